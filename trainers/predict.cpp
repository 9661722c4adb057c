#include "trainers/predict.h"

#include "common/guard.h"

#include "trainers/preprocess_file.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "common/text.h"
#include "dataio/h5_io.h"
#include "dataio/sharding.h"
#include "dataio/tabular_data.h"
#include "kernels/text_hash.h"
#include "kernels/text_math.h"
#include "trainers/preprocess.h"
#include "trainers/spec_model.h"
#include "trainers/train_options.h"

namespace driftrun {
namespace {

// Raw model inputs of some rows: features/images row-major, or strings.
struct RawInputs {
  int64_t rows = 0;
  std::vector<float> x;
  std::vector<std::string> texts;
};

// Reads `rows` (all rows when empty) of the model's input dataset from `file`,
// checking its shape against the model's; feature columns are matched to the
// model's by name (ck.pre.names).
Result<RawInputs> ReadInputs(const H5Reader& file, const CheckpointState& ck, const ModelSpec& spec,
                             const TrainOptions& o, const std::vector<int64_t>& rows,
                             std::vector<std::string>* warnings) {
  DRIFTRUN_ASSIGN_OR_RETURN(H5DatasetInfo info, file.Info(o.train.features));
  RawInputs in;
  in.rows = rows.empty() ? info.rows() : static_cast<int64_t>(rows.size());
  if (spec.kind == "text") {
    if (info.kind != H5Kind::kString || info.dims.size() != 1) {
      return Status::Data("'" + file.path() + "' dataset '" + o.train.features + "' must be strings [rows] " +
                          "like the model's training data; got " + info.Describe());
    }
    std::vector<std::string> all;
    DRIFTRUN_RETURN_IF_ERROR(file.ReadStrings(o.train.features, 0, info.rows(), &all));
    if (rows.empty()) {
      in.texts = std::move(all);
    } else {
      for (int64_t r : rows) in.texts.push_back(all[static_cast<size_t>(r)]);
    }
    return in;
  }
  const int64_t file_width =
      info.dims.size() == 2 && info.kind == H5Kind::kFloat ? info.dims[1] : -1;  // a feature matrix
  const bool by_name = spec.input.size() == 1 && file_width > 0;
  if (!by_name &&
      (info.kind != H5Kind::kFloat || std::vector<int64_t>(info.dims.begin() + (info.dims.empty() ? 0 : 1),
                                                           info.dims.end()) != spec.input)) {
    std::string shape;
    for (int64_t d : spec.input) shape += ", " + std::to_string(d);
    return Status::Data("'" + file.path() + "' dataset '" + o.train.features + "' must be float [rows" +
                        shape + "] like the model's training data; got " + info.Describe());
  }
  if (rows.empty()) {
    DRIFTRUN_RETURN_IF_ERROR(file.ReadRange(o.train.features, 0, info.rows(), &in.x));
  } else {
    DRIFTRUN_RETURN_IF_ERROR(file.ReadRows(o.train.features, rows, &in.x));
  }
  if (by_name) {
    // Feature columns meet the model's by name (reordered; missing or extra
    // ones refused), then by count.
    bool named = false;
    DRIFTRUN_ASSIGN_OR_RETURN(
        auto names, ReadColumnNames(file, o.train.features, "feature_names", file_width, "f", &named));
    const std::string where = "'" + file.path() + "' dataset '" + o.train.features + "'";
    if (named && !ck.pre.names.empty()) {
      DRIFTRUN_RETURN_IF_ERROR(AlignColumns(ck.pre.names, names, true, where, in.rows, &in.x, warnings));
    } else if (file_width != spec.input[0]) {
      return Status::Data(where + " has " + std::to_string(file_width) + " columns; the model takes " +
                          std::to_string(spec.input[0]));
    } else {
      DRIFTRUN_RETURN_IF_ERROR(AlignColumns(ck.pre.names, names, named, where, in.rows, &in.x, warnings));
    }
  }
  return in;
}

// The model's outputs (logits for classification) for raw inputs, in batches;
// *ids gets the hashed n-gram ids of a text model, *imputed (when not null) the
// number of imputed values per input column.
constexpr double kFarScaled = 1000;

Result<torch::Tensor> Forward(const CheckpointState& ck, const ModelSpec& spec, const TrainOptions& o,
                              RawInputs& in, torch::Device device, int64_t batch, torch::Tensor* ids,
                              std::vector<int64_t>* imputed, int64_t* far) {
  // Keep freed batch buffers in the heap: otherwise every large tensor is a fresh
  // mmap whose first touch page-faults (measured: a 33 MB copy 10 ms -> 1.5 ms).
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  SpecModel model(spec);
  DRIFTRUN_RETURN_IF_ERROR(LoadParameters(*model, ck.model));
  model->to(device);
  model->eval();
  torch::NoGradGuard ng;
  const bool text = spec.kind == "text";
  torch::Tensor all_ids;
  if (text) {
    DRIFTRUN_ASSIGN_OR_RETURN(all_ids, HashText(in.texts, o.ngrams, device));
    if (ids) *ids = all_ids;
  }
  std::vector<torch::Tensor> out;
  const int64_t width = spec.input_width();
  for (int64_t b = 0; b < in.rows; b += batch) {
    const int64_t n = std::min(batch, in.rows - b);
    torch::Tensor x;
    if (text) {
      x = all_ids.narrow(0, b, n);
    } else {
      torch::Tensor raw = torch::from_blob(in.x.data() + b * width, {n, width}, torch::kFloat).to(device);
      TransformReport rep;
      DRIFTRUN_ASSIGN_OR_RETURN(x, ApplyPreprocessor(ck.pre, raw, &rep));
      x = x.to(torch::kFloat);
      // Rows with a value over kFarScaled spreads from the training data (standard
      // deviations, or min-max ranges): predictions there are extrapolations.
      if (far) *far += (x.abs() > kFarScaled).any(1).sum().item<int64_t>();
      if (imputed) {
        imputed->resize(rep.imputed.size());
        for (size_t j = 0; j < rep.imputed.size(); ++j) (*imputed)[j] += rep.imputed[j];
      }
    }
    out.push_back(model->forward(x));
  }
  return out.empty() ? torch::zeros({0, spec.out}) : torch::cat(out);
}

Status PickDevice(const std::string& want, torch::Device* device) {
  if (want == "cuda" || (want == "auto" && torch::cuda::is_available())) {
    if (!torch::cuda::is_available()) return Status::Infra("--device cuda but no GPU is visible");
    *device = torch::Device(torch::kCUDA, 0);
  }
  return Status::Ok();
}

}  // namespace

// PredictResult::suspect for the rows of `in`.
std::map<std::string, int64_t> SuspectRows(const RawInputs& in, const ModelSpec& spec,
                                           const TrainOptions& o) {
  std::map<std::string, int64_t> n;
  if (spec.kind == "text") {
    n = {{"empty", 0}, {"truncated", 0}, {"invalid_utf8", 0}};
    const int64_t max_ids = spec.input.empty() ? o.ngrams.max_ids : spec.input[0];
    std::vector<int64_t> buf(static_cast<size_t>(max_ids + 1));
    for (const auto& t : in.texts) {
      // One id more than the model takes: a row that fills it was cut short.
      const int64_t k =
          kmath::HashTextRow(t.data(), static_cast<int64_t>(t.size()), o.ngrams.buckets, o.ngrams.word_ngrams,
                             o.ngrams.char_ngrams, max_ids + 1, buf.data());
      n["empty"] += k == 0;
      n["truncated"] += k > max_ids;
      n["invalid_utf8"] += !IsValidUtf8(t);
    }
    return n;
  }
  n = {{"all_missing", 0}, {"infinite_input", 0}};
  const size_t width = in.rows > 0 ? in.x.size() / static_cast<size_t>(in.rows) : 0;
  for (int64_t r = 0; r < in.rows && width > 0; ++r) {
    const float* row = in.x.data() + static_cast<size_t>(r) * width;
    n["all_missing"] += std::none_of(row, row + width, [](float v) { return std::isfinite(v); });
    n["infinite_input"] += std::any_of(row, row + width, [](float v) { return std::isinf(v); });
  }
  return n;
}

static Result<PredictResult> PredictImpl(const PredictRequest& req) {
  const CheckpointState& ck = *req.checkpoint;
  DRIFTRUN_ASSIGN_OR_RETURN(ModelSpec spec, ModelSpec::FromJson(ck.model_spec));
  DRIFTRUN_ASSIGN_OR_RETURN(TrainOptions o, TrainOptions::FromConfig(*req.config, 1));
  torch::Device device = torch::kCPU;
  DRIFTRUN_RETURN_IF_ERROR(PickDevice(req.device, &device));
  DRIFTRUN_ASSIGN_OR_RETURN(auto file, H5Reader::Open(req.in));
  PredictResult r;
  DRIFTRUN_ASSIGN_OR_RETURN(RawInputs in, ReadInputs(*file, ck, spec, o, {}, &r.warnings));
  r.suspect = SuspectRows(in, spec, o);
  // Float64 values past float32's range (about 3.4e38) are read as infinite:
  // imputed like a missing value, which hides a huge value, not a gap.
  if (const int64_t inf = spec.kind == "text" ? 0 : r.suspect["infinite_input"]; inf > 0)
    r.warnings.push_back(
        std::to_string(inf) +
        " row(s) have an infinite value (or one beyond float32's range, about 3.4e38): it "
        "was imputed with the training fill value like a missing one; look for huge values or "
        "a unit error");

  const auto t0 = std::chrono::steady_clock::now();
  torch::Tensor ids;
  std::vector<int64_t> imputed;
  int64_t far = 0;
  DRIFTRUN_ASSIGN_OR_RETURN(torch::Tensor logits,
                            Forward(ck, spec, o, in, device, req.batch, &ids, &imputed, &far));
  if (spec.kind != "text") {
    r.suspect["far_outside_training"] = far;
    if (far > 0)
      r.warnings.push_back(std::to_string(far) + " row(s) have a value over " +
                           std::to_string(int(kFarScaled)) +
                           " standard deviations (or ranges) from the training data: their predictions are "
                           "extrapolations; look for huge or mis-scaled values");
  }
  WarnImputed(imputed, in.rows, req.config->Float("drift.missing_rise"), ck.pre.names,
              "predictions for those rows rest on the training fill value", &r.warnings);
  const bool cls = spec.task == "classification";
  torch::Tensor pred = (cls ? torch::softmax(logits, 1) : logits).to(torch::kCPU).contiguous();
  torch::Tensor label = cls ? logits.argmax(1).to(torch::kCPU).contiguous() : torch::Tensor();
  // Inputs far outside the training range (3e38, say) overflow the model.
  const int64_t overflowed = (~torch::isfinite(pred)).reshape({in.rows, -1}).any(1).sum().item<int64_t>();
  r.suspect["nonfinite_prediction"] = overflowed;
  if (overflowed > 0)
    r.warnings.push_back(
        std::to_string(overflowed) +
        " row(s) have a NaN or infinite prediction: their inputs are far outside what the model "
        "was trained on (look for huge values); treat those predictions as missing");
  r.rows = in.rows;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  DRIFTRUN_ASSIGN_OR_RETURN(auto w, H5Writer::Create(req.out));
  DRIFTRUN_RETURN_IF_ERROR(w->Write("/prediction", {in.rows, spec.out}, pred.data_ptr<float>()));
  DRIFTRUN_RETURN_IF_ERROR(w->AttrString("/", "driftrun_output", "predictions"));  // what --out may replace
  if (cls) DRIFTRUN_RETURN_IF_ERROR(w->Write("/label", {in.rows}, label.data_ptr<int64_t>()));
  if (spec.kind == "text" && req.save_ids) {
    ids = ids.to(torch::kCPU).contiguous();
    DRIFTRUN_RETURN_IF_ERROR(w->Write("/input", {in.rows, ids.size(1)}, ids.data_ptr<int64_t>()));
  }
  DRIFTRUN_RETURN_IF_ERROR(w->Commit());
  return r;
}

// Per-row losses of the checkpoint's model on `rows` of `path` (model_cfg's
// dataset names): mean squared error over the targets, or cross-entropy.
static Result<std::vector<double>> RowLossesImpl(const CheckpointState& ck, const Config& model_cfg,
                                                 const std::string& path, const std::vector<int64_t>& rows) {
  DRIFTRUN_ASSIGN_OR_RETURN(ModelSpec spec, ModelSpec::FromJson(ck.model_spec));
  DRIFTRUN_ASSIGN_OR_RETURN(TrainOptions mo, TrainOptions::FromConfig(model_cfg, 1));
  DRIFTRUN_ASSIGN_OR_RETURN(auto file, H5Reader::Open(path));
  DRIFTRUN_ASSIGN_OR_RETURN(RawInputs in, ReadInputs(*file, ck, spec, mo, rows, nullptr));
  DRIFTRUN_ASSIGN_OR_RETURN(torch::Tensor logits,
                            Forward(ck, spec, mo, in, torch::kCPU, 8192, nullptr, nullptr, nullptr));
  torch::NoGradGuard ng;
  torch::Tensor per_row;
  if (spec.task == "classification") {
    std::vector<int64_t> y;
    DRIFTRUN_RETURN_IF_ERROR(file->ReadRows(mo.train.labels, rows, &y));
    for (int64_t c : y) {
      if (c < 0 || c >= spec.out)
        return Status::Data("'" + path + "': label " + std::to_string(c) + " outside the model's classes");
    }
    torch::Tensor t = torch::from_blob(y.data(), {in.rows}, torch::kLong);
    per_row = torch::cross_entropy_loss(logits, t, {}, at::Reduction::None);
  } else {
    std::vector<float> y;
    DRIFTRUN_RETURN_IF_ERROR(file->ReadRows(mo.train.labels, rows, &y));
    if (static_cast<int64_t>(y.size()) != in.rows * spec.out) {
      return Status::Data("'" + path + "' dataset '" + mo.train.labels + "' has " +
                          std::to_string(y.size() / std::max<size_t>(rows.size(), 1)) +
                          " targets per row; the model predicts " + std::to_string(spec.out));
    }
    torch::Tensor t = torch::from_blob(y.data(), {in.rows, spec.out}, torch::kFloat);
    per_row = torch::mse_loss(logits, t, at::Reduction::None).mean(1);
  }
  per_row = per_row.to(torch::kDouble).contiguous();
  return std::vector<double>(per_row.data_ptr<double>(), per_row.data_ptr<double>() + per_row.numel());
}

static Result<std::vector<HoldoutPart>> HoldoutRowsImpl(const Config& holdout_cfg) {
  DRIFTRUN_ASSIGN_OR_RETURN(TrainOptions ho, TrainOptions::FromConfig(holdout_cfg, 1));
  const std::vector<std::string> paths =
      ho.val_path.empty() ? ho.train_paths : std::vector<std::string>{ho.val_path};
  std::vector<HoldoutPart> parts;
  for (const std::string& path : paths) {
    DRIFTRUN_ASSIGN_OR_RETURN(auto file, H5Reader::Open(path));
    DRIFTRUN_ASSIGN_OR_RETURN(H5DatasetInfo labels, file->Info(ho.train.labels));
    HoldoutPart part{path, {}};
    if (ho.val_path.empty()) {
      part.rows = SplitTrainVal(labels.rows(), ho.val_fraction).val;
    } else {
      part.rows.resize(static_cast<size_t>(labels.rows()));
      for (int64_t i = 0; i < labels.rows(); ++i) part.rows[static_cast<size_t>(i)] = i;
    }
    if (!part.rows.empty()) parts.push_back(std::move(part));
  }
  return parts;
}

static Result<double> HoldoutLossImpl(const CheckpointState& ck, const Config& model_cfg,
                                      const Config& holdout_cfg) {
  DRIFTRUN_ASSIGN_OR_RETURN(std::vector<HoldoutPart> parts, HoldoutRowsImpl(holdout_cfg));
  double sum = 0;
  size_t n = 0;
  for (const HoldoutPart& part : parts) {
    DRIFTRUN_ASSIGN_OR_RETURN(std::vector<double> loss, RowLossesImpl(ck, model_cfg, part.path, part.rows));
    for (double v : loss) sum += v;
    n += loss.size();
  }
  if (n == 0) {
    return Status::Data("the training data of " + holdout_cfg.Str("name") +
                        " has no holdout rows (data.val is empty, val_fraction 0)");
  }
  return sum / static_cast<double>(n);
}

// The library boundary: a LibTorch exception (a shape the model rejects) is bad
// input; out of memory and device errors are infrastructure failures.
Result<PredictResult> Predict(const PredictRequest& req) {
  return Guarded("inference failed", Code::kData, [&] { return PredictImpl(req); });
}

Result<std::vector<double>> RowLosses(const CheckpointState& ck, const Config& model_cfg,
                                      const std::string& path, const std::vector<int64_t>& rows) {
  return Guarded("evaluating the model on '" + path + "'", Code::kData,
                 [&] { return RowLossesImpl(ck, model_cfg, path, rows); });
}

Result<std::vector<HoldoutPart>> HoldoutRows(const Config& holdout_cfg) {
  return Guarded("finding the holdout rows", Code::kData, [&] { return HoldoutRowsImpl(holdout_cfg); });
}

Result<double> HoldoutLoss(const CheckpointState& ck, const Config& model_cfg, const Config& holdout_cfg) {
  return Guarded("evaluating the holdout loss", Code::kData,
                 [&] { return HoldoutLossImpl(ck, model_cfg, holdout_cfg); });
}

}  // namespace driftrun
