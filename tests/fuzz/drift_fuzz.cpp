// Fuzz target: drift detection and its reports (monitor/drift.h) on two tiny
// data files. Input: a header (rows of each file, columns, method, a few
// thresholds), the feature names, then float32 values (any bit pattern: NaN,
// Inf, denormals) for the reference and the current batch. Both files are
// written with driftrun's own writer and read back with the real reader, then
// compared exactly, through a stored profile (write + read), and by the
// histogram route; categorical columns too. The JSON and HTML reports are
// rendered as `driftrun drift` does.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dataio/h5_io.h"
#include "dataio/tabular_data.h"
#include "monitor/drift.h"
#include "monitor/profile.h"
#include "reports/drift_html.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using namespace driftrun;

// Writes a [rows, cols] float file with names and a categorical matrix.
std::string WriteData(const std::string& name, int64_t rows, const std::vector<std::string>& names,
                      fuzz::Bytes* in) {
  const int64_t cols = static_cast<int64_t>(names.size());
  std::vector<float> x(static_cast<size_t>(rows * cols));
  for (auto& v : x) v = in->F32();
  std::vector<int64_t> cat(static_cast<size_t>(rows));
  for (auto& v : cat) v = static_cast<int8_t>(in->U8() % 8) - 2;
  const std::string path = fuzz::ScratchDir() + "/" + name;
  auto w = H5Writer::Create(path);
  if (!w.ok()) return "";
  if (!w.value()->Write("/features", {rows, cols}, x.data()).ok() ||
      !w.value()->AttrStrings("/features", "feature_names", names).ok() ||
      !w.value()->Write("/categorical", {rows, 1}, cat.data()).ok() ||
      !w.value()->AttrStrings("/", "categorical_names", {"c"}).ok() || !w.value()->Commit().ok()) {
    return "";
  }
  return path;
}

at::Tensor AsTensor(FeatureMatrix& m) {
  return at::from_blob(m.x.data(), {m.rows, m.dim}, at::kFloat);
}

void Render(const DriftReport& r) {
  (void)r.ToJson().dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  (void)DriftReportHtml(r);
}

void CompareViaProfile(FeatureMatrix& ref, FeatureMatrix& cur, const CategoricalMatrix& ref_cat,
                       const CategoricalMatrix& cur_cat, const DriftOptions& opts) {
  auto p = BuildProfile(AsTensor(ref), ref.names, "ref.h5");
  if (!p.ok()) return;
  p.value().categorical = ProfileCategories(ref_cat.v, ref_cat.rows, ref_cat.names);
  const std::string path = fuzz::ScratchDir() + "/ref.profile.h5";
  if (!WriteProfile(path, p.value()).ok()) return;
  auto back = ReadProfile(path);
  if (!back.ok()) return;
  auto r = CompareProfile(back.value(), AsTensor(cur), cur.names, opts);
  if (!r.ok()) return;
  (void)AddCategorical(back.value().categorical, cur_cat.v, cur_cat.rows, cur_cat.names, &r.value());
  Render(r.value());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool one_thread = (at::set_num_threads(1), true);  // stable cost per input
  (void)one_thread;
  fuzz::Bytes in(data, size);
  const int64_t ref_rows = in.U8() % 48, cur_rows = in.U8() % 48, cols = 1 + in.U8() % 4;
  static const char* kMethods[] = {"auto", "psi", "ks", "wasserstein", "jensenshannon"};
  DriftOptions opts;
  opts.method = kMethods[in.U8() % 5];
  opts.share = (1 + in.U8() % 100) / 100.0;
  opts.missing_rise = (in.U8() % 100) / 100.0;
  opts.memory_mb = in.U8() % 2 ? 0 : 1024;  // 0: the histogram route
  std::vector<std::string> names;
  for (int64_t j = 0; j < cols; ++j) names.push_back(in.Str(12));
  const std::string ref_path = WriteData("ref.h5", ref_rows, names, &in);
  const std::string cur_path = WriteData("cur.h5", cur_rows, names, &in);
  if (ref_path.empty() || cur_path.empty()) return 0;
  auto ref = ReadFeatureMatrix(ref_path, "/features");
  auto cur = ReadFeatureMatrix(cur_path, "/features");
  auto ref_cat = ReadCategoricalMatrix(ref_path, "/categorical");
  auto cur_cat = ReadCategoricalMatrix(cur_path, "/categorical");
  if (!ref.ok() || !cur.ok() || !ref_cat.ok() || !cur_cat.ok()) return 0;
  auto r = CompareData(AsTensor(ref.value()), AsTensor(cur.value()), cur.value().names, opts);
  if (r.ok()) {
    auto cats = ProfileCategories(ref_cat.value().v, ref_cat.value().rows, ref_cat.value().names);
    (void)AddCategorical(cats, cur_cat.value().v, cur_cat.value().rows, cur_cat.value().names, &r.value());
    Render(r.value());
  }
  if (ref.value().rows > 0) {
    CompareViaProfile(ref.value(), cur.value(), ref_cat.value(), cur_cat.value(), opts);
  }
  return 0;
}
