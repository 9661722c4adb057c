#include "trainers/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <thread>
#include <tuple>

#include "common/file_util.h"
#include "trainers/checkpoint.h"
#include "trainers/collectives.h"
#include "trainers/grad_reducer.h"
#include "trainers/optimizer.h"
#include "trainers/run_log.h"
#include "trainers/sharding.h"
#include "trainers/spec_model.h"
#include "trainers/train_options.h"
#ifdef DRIFTRUN_WITH_CUDA
#include "trainers/cuda_stream.h"
#include "trainers/nccl_communicator.h"
#endif

namespace driftrun {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

std::string TimeStamp() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%d-%H%M%S", std::localtime(&t));
  return buf;
}

// Everything a rank holds while training.
struct Session {
  TrainOptions o;
  Communicator* world = nullptr;
  Communicator* grad_comm = nullptr;  // world, or NCCL on GPUs
  std::unique_ptr<Communicator> nccl;
  torch::Device device = torch::kCPU;
  std::unique_ptr<H5Reader> train_file;
  TabularMeta meta;
  std::vector<int64_t> train_rows;  // global, sorted
  int64_t shard_begin = 0, shard_end = 0;
  torch::Tensor shard_x, shard_y;  // this rank's rows, preprocessed, on the device
  FitResult fit;
  ModelSpec spec;
  SpecModel model{nullptr};
  std::unique_ptr<Optimizer> optim;
  std::unique_ptr<GradReducer> reducer;
  torch::Tensor val_x, val_y;
  int64_t val_count = 0;  // global
  RunLog log;
  std::string ckpt_dir;
};

// ---- resume resolution (rank 0) ----------------------------------------------

// Finds the checkpoint to resume from; "" for a fresh start. Sets *run_dir.
Result<std::string> ResolveResume(const TrainRequest& req, const std::string& name, std::string* run_dir,
                                  std::vector<std::string>* warnings) {
  if (req.resume.empty()) return std::string();
  if (req.resume == "auto") {
    if (!run_dir->empty()) return FindLatestCheckpoint(*run_dir + "/checkpoints", warnings);
    // Newest runs/<name>-* folder with a valid checkpoint.
    std::vector<std::string> dirs;
    for (const auto& n : ListDir("runs")) {
      if (n.rfind(name + "-", 0) == 0 && IsDir("runs/" + n)) dirs.push_back("runs/" + n);
    }
    std::sort(dirs.rbegin(), dirs.rend());
    for (const auto& d : dirs) {
      std::string c = FindLatestCheckpoint(d + "/checkpoints", warnings);
      if (!c.empty()) {
        *run_dir = d;
        return c;
      }
    }
    return std::string();
  }
  const std::string& p = req.resume;
  if (IsDir(p)) {
    const bool has_sub = IsDir(p + "/checkpoints");
    const std::string ck = has_sub ? p + "/checkpoints" : p;
    std::string c = FindLatestCheckpoint(ck, warnings);
    if (c.empty()) return Status::Usage("--resume " + p + ": no valid checkpoint in '" + ck + "'");
    if (run_dir->empty()) *run_dir = has_sub ? p : DirName(p);
    return c;
  }
  std::string manifest = p;
  if (EndsWith(p, ".h5")) manifest = manifest.substr(0, manifest.size() - 3) + ".json";
  Status st = VerifyCheckpoint(manifest);
  if (!st.ok()) return Status::Usage("--resume " + p + ": " + st.message());
  if (run_dir->empty()) *run_dir = DirName(DirName(manifest));
  return manifest;
}

// ---- tensors <-> checkpoint ---------------------------------------------------

NamedArray ToArray(const std::string& name, const torch::Tensor& t) {
  torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
  NamedArray a;
  a.name = name;
  a.dims.assign(c.sizes().begin(), c.sizes().end());
  a.data.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  return a;
}

torch::Tensor FromArray(const NamedArray& a) {
  return torch::from_blob(const_cast<float*>(a.data.data()), a.dims, torch::kFloat).clone();
}

Status LoadModel(Session& s, const CheckpointState& ck) {
  DRIFTRUN_RETURN_IF_ERROR(LoadParameters(*s.model, ck.model));
  std::map<std::string, torch::Tensor> opt;
  for (const auto& a : ck.optim) opt[a.name] = FromArray(a);
  return s.optim->LoadState(opt, ck.step);
}

// ---- evaluation ---------------------------------------------------------------

struct Eval {
  double loss = NAN;
  double metric = NAN;
};

// Model input from stored rows: bf16 features widen to float32; ids stay int64.
torch::Tensor AsInput(const torch::Tensor& x) {
  return x.is_floating_point() ? x.to(torch::kFloat) : x;
}

torch::Tensor Loss(const Session& s, const torch::Tensor& pred, const torch::Tensor& y,
                   at::Reduction::Reduction red) {
  if (s.o.train.classification) return torch::cross_entropy_loss(pred, y, {}, red);
  return torch::mse_loss(pred, y, red);
}

Result<Eval> Evaluate(Session& s) {
  Eval e;
  if (s.val_count == 0) return e;
  torch::NoGradGuard ng;
  s.model->eval();
  std::vector<double> acc = {0, 0};  // loss sum, metric sum
  if (s.val_x.defined() && s.val_x.size(0) > 0) {
    for (int64_t i = 0; i < s.val_x.size(0); i += 8192) {
      int64_t n = std::min<int64_t>(8192, s.val_x.size(0) - i);
      torch::Tensor x = AsInput(s.val_x.narrow(0, i, n)), y = s.val_y.narrow(0, i, n);
      torch::Tensor pred = s.model->forward(x);
      if (s.o.train.classification) {
        acc[0] += Loss(s, pred, y, at::Reduction::Sum).item<double>();
        acc[1] += pred.argmax(1).eq(y).sum().item<double>();
      } else {
        double se = Loss(s, pred, y, at::Reduction::Sum).item<double>();
        acc[0] += se;
        acc[1] += se;
      }
    }
  }
  s.model->train();
  DRIFTRUN_RETURN_IF_ERROR(AllReduceDoubles(*s.world, &acc));
  const double n = static_cast<double>(s.val_count);
  if (s.o.train.classification) {
    e.loss = acc[0] / n;
    e.metric = acc[1] / n;  // accuracy
  } else {
    e.loss = acc[0] / (n * s.meta.label_dim);
    e.metric = std::sqrt(e.loss);  // RMSE
  }
  return e;
}

// Raw features of rows in memory as a float32 tensor on the device; for text,
// the hashed n-gram ids (int64 [rows, max_ngrams]) computed on the device.
Result<torch::Tensor> RawFeatures(const Session& s, TabularRows& r) {
  if (s.o.train.text) return HashText(r.text, s.o.ngrams, s.device);
  return torch::from_blob(r.x.data(), {r.rows, s.meta.dim}, torch::kFloat).to(s.device, false, true);
}

// Applies the fitted preprocessing (the fused transform kernel, on the device)
// and returns the features and labels as device tensors.
Status ToTensors(Session& s, TabularRows& r, torch::Tensor* x, torch::Tensor* y) {
  DRIFTRUN_ASSIGN_OR_RETURN(torch::Tensor raw, RawFeatures(s, r));
  if (s.o.train.text) {
    *x = raw;
  } else {
    DRIFTRUN_ASSIGN_OR_RETURN(*x, ApplyPreprocessor(s.fit.pre, raw));
  }
  if (s.o.train.classification) {
    *y = torch::from_blob(r.cls.data(), {r.rows}, torch::kLong).to(s.device, false, true);
  } else {
    *y = torch::from_blob(r.y.data(), {r.rows, s.meta.label_dim}, torch::kFloat).to(s.device, false, true);
  }
  return Status::Ok();
}

// Positions in [begin, end) of the sorted `rows`, relative to begin.
std::vector<int64_t> PositionsIn(const std::vector<int64_t>& rows, int64_t begin, int64_t end) {
  std::vector<int64_t> out;
  auto lo = std::lower_bound(rows.begin(), rows.end(), begin);
  auto hi = std::lower_bound(rows.begin(), rows.end(), end);
  for (auto it = lo; it != hi; ++it) out.push_back(*it - begin);
  return out;
}

torch::Tensor IndexTensor(const std::vector<int64_t>& idx, int64_t from, int64_t to, torch::Device dev) {
  return torch::from_blob(const_cast<int64_t*>(idx.data()) + from, {to - from}, torch::kLong).to(dev);
}

Status BroadcastParams(Session& s) {
  torch::NoGradGuard ng;
  for (auto& p : s.model->parameters()) {
    torch::Tensor t = p.detach();
    DRIFTRUN_RETURN_IF_ERROR(s.grad_comm->Broadcast(t.data_ptr(), t.numel(), DType::kFloat32, 0));
  }
  return Status::Ok();
}

CheckpointState Snapshot(const Session& s, int64_t step, int64_t epoch, int64_t next_batch,
                         double epoch_loss_sum, int64_t epoch_loss_steps, double samples_seen,
                         const std::string& config_hash) {
  CheckpointState c;
  c.step = step;
  c.epoch = epoch;
  c.next_batch = next_batch;
  c.world_size = s.world->size();
  c.classes = s.fit.classes;
  c.in_dim = s.meta.dim;
  c.out_dim = s.o.train.classification ? s.fit.classes : s.meta.label_dim;
  c.epoch_loss_sum = epoch_loss_sum;
  c.epoch_loss_steps = epoch_loss_steps;
  c.samples_seen = samples_seen;
  c.config_hash = config_hash;
  c.task = s.o.train.classification ? "classification" : "regression";
  c.model_spec = s.spec.ToJson();
  for (const auto& p : s.model->named_parameters()) c.model.push_back(ToArray(p.key(), p.value()));
  for (const auto& [k, v] : s.optim->State()) c.optim.push_back(ToArray(k, v));
  c.pre = s.fit.pre;
  return c;
}

// Checks that every rank holds bit-identical weights (a 62-bit FNV-1a hash of
// the parameter bytes, min and max over ranks in one all-reduce).
Status VerifyReplicas(Session& s, int64_t step) {
  uint64_t h = 1469598103934665603ULL;
  for (const auto& p : s.model->parameters()) {
    torch::Tensor c = p.detach().to(torch::kCPU).contiguous();
    const auto* bytes = static_cast<const uint8_t*>(c.data_ptr());
    for (size_t i = 0; i < static_cast<size_t>(c.nbytes()); ++i) h = (h ^ bytes[i]) * 1099511628211ULL;
  }
  int64_t v[2] = {static_cast<int64_t>(h >> 2), -static_cast<int64_t>(h >> 2)};
  DRIFTRUN_RETURN_IF_ERROR(s.world->AllReduce(v, 2, DType::kInt64, ReduceOp::kMax));
  if (v[0] != -v[1]) {
    return Status::Infra("replicas diverged after step " + std::to_string(step) +
                         ": ranks hold different weights. Check that every rank runs the same build "
                         "and that the gradient all-reduce is healthy");
  }
  return Status::Ok();
}

void DrawBar(int64_t epoch, int64_t epochs, int64_t done, int64_t total, double loss, double sps) {
  const int width = 30;
  int fill = total > 0 ? static_cast<int>(width * done / total) : width;
  std::printf("\repoch %lld/%lld [%s%s] %lld/%lld loss %.4g  %.0f samples/s   ",
              static_cast<long long>(epoch + 1), static_cast<long long>(epochs),
              std::string(fill, '#').c_str(), std::string(width - fill, '.').c_str(),
              static_cast<long long>(done), static_cast<long long>(total), loss, sps);
  std::fflush(stdout);
}

// ---- setup --------------------------------------------------------------------

Status SetupDevice(Session& s) {
  const std::string& want = s.o.device;
  bool cuda = torch::cuda::is_available();
  if (want == "cuda" && !cuda) {
    return Status::Infra(
        "train.device = \"cuda\" but no GPU is visible to this process; use \"auto\" or \"cpu\"");
  }
  bool use_cuda = want == "cuda" || (want == "auto" && cuda);
  if (s.o.backend == "nccl" && !use_cuda) {
    return Status::Usage("dist.backend = \"nccl\" needs CUDA tensors, but training runs on the CPU here");
  }
  s.grad_comm = s.world;
  if (!use_cuda) return Status::Ok();
#ifdef DRIFTRUN_WITH_CUDA
  int local = EnvInt("OMPI_COMM_WORLD_LOCAL_RANK", EnvInt("SLURM_LOCALID", 0));
  int dev = local % static_cast<int>(torch::cuda::device_count());
  s.device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(dev));
  if (s.o.backend != "mpi" && s.world->size() > 1) {
    auto nc = NcclCommunicator::Create(*s.world, dev, CurrentCudaStream(dev));
    if (!nc.ok()) return nc.status();
    s.nccl = nc.take();
    s.grad_comm = s.nccl.get();
  } else if (s.o.backend == "nccl") {
    auto nc = NcclCommunicator::Create(*s.world, dev, CurrentCudaStream(dev));
    if (!nc.ok()) return nc.status();
    s.nccl = nc.take();
    s.grad_comm = s.nccl.get();
  }
  if (!s.grad_comm->device_buffers() && s.world->size() > 1) {
    return Status::Usage("dist.backend = \"mpi\" reduces host buffers; with train.device = cuda use nccl");
  }
  return Status::Ok();
#else
  return Status::Infra(
      "this driftrun was built without CUDA (no nvcc at build time); set train.device = \"cpu\"");
#endif
}

int DefaultThreads(int world) {
  int local = EnvInt("OMPI_COMM_WORLD_LOCAL_SIZE", EnvInt("SLURM_NTASKS_PER_NODE", world));
  int hw = static_cast<int>(std::thread::hardware_concurrency());
  return std::max(1, hw / std::max(1, local));
}

}  // namespace

static Result<TrainResult> TrainImpl(Communicator& world, const Config& cfg, const TrainRequest& req) {
  const auto t0 = Clock::now();
  const int rank = world.rank(), W = world.size();
  Session s;
  s.world = &world;
  DRIFTRUN_ASSIGN_OR_RETURN(s.o, TrainOptions::FromConfig(cfg, W));
  const TrainOptions& o = s.o;
  torch::set_num_threads(o.threads > 0 ? static_cast<int>(o.threads) : DefaultThreads(W));

  // Data: every rank opens the file and checks its layout.
  Status local = [&]() -> Status {
    DRIFTRUN_ASSIGN_OR_RETURN(s.train_file, H5Reader::Open(o.train.path));
    DRIFTRUN_ASSIGN_OR_RETURN(s.meta, InspectTabular(*s.train_file, o.train));
    return Status::Ok();
  }();
  DRIFTRUN_RETURN_IF_ERROR(AgreeStatus(world, local.WithContext("[data] train")));

  std::unique_ptr<H5Reader> val_file;
  TabularSpec val_spec = o.train;
  std::vector<int64_t> val_rows;
  int64_t val_total = 0;
  local = [&]() -> Status {
    if (o.val_path.empty()) {
      TrainValSplit split = SplitTrainVal(s.meta.rows, o.val_fraction, o.seed);
      s.train_rows = std::move(split.train);
      val_rows = std::move(split.val);
      return Status::Ok();
    }
    val_spec.path = o.val_path;
    DRIFTRUN_ASSIGN_OR_RETURN(val_file, H5Reader::Open(o.val_path));
    DRIFTRUN_ASSIGN_OR_RETURN(TabularMeta vm, InspectTabular(*val_file, val_spec));
    if (vm.dim != s.meta.dim || vm.label_dim != s.meta.label_dim) {
      return Status::Data("'" + o.val_path + "' has " + std::to_string(vm.dim) + " features and " +
                          std::to_string(vm.label_dim) + " targets, but the training data has " +
                          std::to_string(s.meta.dim) + " and " + std::to_string(s.meta.label_dim));
    }
    s.train_rows.resize(s.meta.rows);
    for (int64_t i = 0; i < s.meta.rows; ++i) s.train_rows[i] = i;
    val_rows.resize(vm.rows);
    for (int64_t i = 0; i < vm.rows; ++i) val_rows[i] = i;
    return Status::Ok();
  }();
  DRIFTRUN_RETURN_IF_ERROR(AgreeStatus(world, local.WithContext("[data] val")));
  val_total = static_cast<int64_t>(val_rows.size());
  const int64_t batches = BatchesPerEpoch(static_cast<int64_t>(s.train_rows.size()), o.batch_size);
  if (batches == 0) {
    return Status::Data("'" + o.train.path + "' has " + std::to_string(s.train_rows.size()) +
                        " training rows, fewer than train.batch_size = " + std::to_string(o.batch_size) +
                        "; lower the batch size or add data");
  }

  // Resume point and run folder (rank 0 decides, everyone learns).
  std::string run_dir = req.run_dir, ckpt_path;
  std::vector<std::string> warnings;
  local = Status::Ok();
  if (rank == 0) {
    auto r = ResolveResume(req, o.name, &run_dir, &warnings);
    if (r.ok()) {
      ckpt_path = r.value();
    } else {
      local = r.status();
    }
    if (local.ok() && run_dir.empty()) {
      run_dir = "runs/" + o.name + "-" + TimeStamp();
      for (int k = 2; PathExists(run_dir); ++k)
        run_dir = "runs/" + o.name + "-" + TimeStamp() + "-" + std::to_string(k);
    }
    for (const auto& w : warnings) std::cerr << "warning: " << w << "\n";
  }
  DRIFTRUN_RETURN_IF_ERROR(AgreeStatus(world, local));
  DRIFTRUN_RETURN_IF_ERROR(BroadcastString(world, &run_dir));
  DRIFTRUN_RETURN_IF_ERROR(BroadcastString(world, &ckpt_path));

  DRIFTRUN_RETURN_IF_ERROR(SetupDevice(s));

  // This rank's shard of the training file: one contiguous hyperslab, read once.
  std::tie(s.shard_begin, s.shard_end) = ContiguousShare(s.meta.rows, rank, W);
  TabularRows shard;
  local = ReadTabularRange(*s.train_file, o.train, s.meta, s.shard_begin, s.shard_end - s.shard_begin,
                           o.train.classification ? o.classes : 0, &shard);
  DRIFTRUN_RETURN_IF_ERROR(AgreeStatus(world, local.WithContext("reading the training shard")));
  const std::vector<int64_t> train_pos = PositionsIn(s.train_rows, s.shard_begin, s.shard_end);

  CheckpointState ck;
  const bool resuming = !ckpt_path.empty();
  if (resuming) {
    local = [&]() -> Status {
      DRIFTRUN_ASSIGN_OR_RETURN(ck, ReadCheckpoint(ckpt_path));
      if (ck.in_dim != s.meta.dim) {
        return Status::Data("checkpoint '" + ckpt_path + "' has " + std::to_string(ck.in_dim) +
                            " input features, the data has " + std::to_string(s.meta.dim));
      }
      return Status::Ok();
    }();
    DRIFTRUN_RETURN_IF_ERROR(AgreeStatus(world, local.WithContext("resuming")));
    s.fit.pre = ck.pre;
    s.fit.classes = ck.classes;
  } else {
    std::vector<int64_t> train_cls;
    if (o.train.classification) {
      for (int64_t p : train_pos) train_cls.push_back(shard.cls[p]);
    }
    if (o.train.text) {
      // No feature statistics to fit: only the class count, merged over ranks.
      int64_t top = 0;
      for (int64_t c : train_cls) top = std::max(top, c + 1);
      DRIFTRUN_RETURN_IF_ERROR(world.AllReduce(&top, 1, DType::kInt64, ReduceOp::kMax));
      s.fit.classes = top;
    } else {
      DRIFTRUN_ASSIGN_OR_RETURN(torch::Tensor raw, RawFeatures(s, shard));
      torch::Tensor fit_x =
          raw.index_select(0, IndexTensor(train_pos, 0, static_cast<int64_t>(train_pos.size()), s.device));
      DRIFTRUN_ASSIGN_OR_RETURN(s.fit,
                                FitPreprocessor(world, fit_x, train_cls, o.train, s.meta, o.preprocess));
    }
    if (o.train.classification && o.classes > 0) s.fit.classes = o.classes;
    if (o.train.classification && s.fit.classes < 2) {
      return Status::Data("'" + o.train.path +
                          "' labels hold a single class; classification needs two or more");
    }
  }

  // Run folder: created only now that config and data are known to be good.
  s.log = RunLog(run_dir, rank == 0);
  s.ckpt_dir = run_dir + "/checkpoints";
  if (rank == 0) {
    local = [&]() -> Status {
      DRIFTRUN_RETURN_IF_ERROR(MakeDirs(s.ckpt_dir));
      DRIFTRUN_RETURN_IF_ERROR(WriteFileAtomic(run_dir + "/config.resolved.toml", cfg.ToToml()));
      return Status::Ok();
    }();
  }
  DRIFTRUN_RETURN_IF_ERROR(AgreeStatus(world, local));

  // Model, optimizer, reducer.
  torch::manual_seed(o.seed);
  local = [&]() -> Status {
    const std::vector<int64_t> input = o.train.text ? std::vector<int64_t>{o.ngrams.max_ids} : s.meta.shape;
    DRIFTRUN_ASSIGN_OR_RETURN(
        s.spec, BuildModelSpec(o.model, input, o.train.classification ? s.fit.classes : s.meta.label_dim));
    return Status::Ok();
  }();
  DRIFTRUN_RETURN_IF_ERROR(AgreeStatus(world, local.WithContext("[model]")));
  s.model = SpecModel(s.spec);
  s.model->to(s.device);
  NamedTensors named;
  for (auto& p : s.model->named_parameters()) named.emplace_back(p.key(), p.value());
  s.optim = std::make_unique<Optimizer>(o.optimizer, named);
  if (resuming) {
    local = LoadModel(s, ck);
    DRIFTRUN_RETURN_IF_ERROR(AgreeStatus(world, local.WithContext("loading '" + ckpt_path + "'")));
  } else {
    DRIFTRUN_RETURN_IF_ERROR(BroadcastParams(s));
  }
  if (W > 1) {
    s.reducer = std::make_unique<GradReducer>(*s.grad_comm, s.model->parameters(),
                                              static_cast<size_t>(o.bucket_mb * 1024 * 1024));
  }

  // Training rows to tensors; validation rows from the shard or from a
  // contiguous share of the validation file.
  s.val_count = val_total;
  {
    TabularRows vrows;
    std::vector<int64_t> val_pos;
    if (val_file) {
      auto [vb, ve] = ContiguousShare(val_total, rank, W);
      local = ReadTabularRange(*val_file, val_spec, s.meta, vb, ve - vb, s.fit.classes, &vrows);
      DRIFTRUN_RETURN_IF_ERROR(AgreeStatus(world, local.WithContext("reading validation rows")));
    } else {
      val_pos = PositionsIn(val_rows, s.shard_begin, s.shard_end);
    }
    local = ToTensors(s, shard, &s.shard_x, &s.shard_y);
    if (local.ok() && val_file) local = ToTensors(s, vrows, &s.val_x, &s.val_y);
    DRIFTRUN_RETURN_IF_ERROR(AgreeStatus(world, local.WithContext("preprocessing")));
    if (val_file) {
    } else {
      torch::Tensor idx = IndexTensor(val_pos, 0, static_cast<int64_t>(val_pos.size()), s.device);
      s.val_x = s.shard_x.index_select(0, idx);
      s.val_y = s.shard_y.index_select(0, idx);
    }
  }

  const int64_t total_steps = o.max_steps > 0 ? o.max_steps : o.epochs * batches;
  const int64_t epochs = o.max_steps > 0 ? (o.max_steps + batches - 1) / batches : o.epochs;
  int64_t step = resuming ? ck.step : 0;
  int64_t epoch = resuming ? ck.epoch : 0;
  int64_t first_batch = resuming ? ck.next_batch : 0;
  double epoch_loss_sum = resuming ? ck.epoch_loss_sum : 0;
  int64_t epoch_loss_steps = resuming ? ck.epoch_loss_steps : 0;
  double samples_seen = resuming ? ck.samples_seen : 0;
  const std::string config_hash = cfg.Hash();
  // Loss normaliser: the global batch's element count, so that summing the
  // ranks' gradients gives the global batch mean however its rows are split.
  const double loss_denom =
      static_cast<double>(o.batch_size) * (o.train.classification ? 1 : s.meta.label_dim);
  const int fault_step = EnvInt("DRIFTRUN_FAULT_SIGNAL_AT_STEP", -1);
  const int fault_rank = EnvInt("DRIFTRUN_FAULT_RANK", W - 1);

  (void)s.log.Event(resuming ? "resume" : "start", {{"world_size", W},
                                                    {"device", s.device.str()},
                                                    {"backend", s.grad_comm->name()},
                                                    {"checkpoint", ckpt_path},
                                                    {"step", step},
                                                    {"epoch", epoch},
                                                    {"train_rows", s.train_rows.size()},
                                                    {"val_rows", val_total},
                                                    {"features", s.meta.dim},
                                                    {"config", req.config_path},
                                                    {"code_version", req.code_version},
                                                    {"pid", static_cast<int64_t>(::getpid())},
                                                    {"preprocess_notes", s.fit.pre.notes}});
  if (rank == 0 && !req.quiet) {
    std::printf(
        "%s %s: %lld train rows, %lld val rows, %lld features, %d rank(s) on %s (%s), run folder %s\n",
        resuming ? "resuming" : "training", o.name.c_str(), static_cast<long long>(s.train_rows.size()),
        static_cast<long long>(val_total), static_cast<long long>(s.meta.dim), W, s.device.str().c_str(),
        s.grad_comm->name().c_str(), run_dir.c_str());
    if (resuming)
      std::printf("resumed from %s at step %lld\n", ckpt_path.c_str(), static_cast<long long>(step));
    std::fflush(stdout);
  }

  TrainResult result;
  result.run_dir = run_dir;
  Eval last_eval;
  bool stopped = false;
  double train_seconds = 0;

  auto save = [&](int64_t ep, int64_t next_batch) -> Status {
    Status st;
    if (rank == 0) {
      auto m = WriteCheckpoint(
          s.ckpt_dir,
          Snapshot(s, step, ep, next_batch, epoch_loss_sum, epoch_loss_steps, samples_seen, config_hash),
          static_cast<int>(o.checkpoint_keep));
      if (m.ok()) {
        result.last_checkpoint = m.value();
        (void)s.log.Event("checkpoint", {{"step", step}, {"path", m.value()}});
      } else {
        st = m.status().WithContext("writing a checkpoint");
      }
    }
    DRIFTRUN_RETURN_IF_ERROR(AgreeStatus(world, st));
    return BroadcastString(world, &result.last_checkpoint);
  };

  int64_t replica_checks = 0;
  if (!resuming && o.checkpoint_initial) DRIFTRUN_RETURN_IF_ERROR(save(0, 0));
  s.model->train();
  while (epoch < epochs && step < total_steps && !stopped) {
    const auto te = Clock::now();
    std::vector<int64_t> order = EpochOrder(s.train_rows, o.seed, epoch, o.shuffle);
    const LocalBatches lb = LocalBatchPositions(order, o.batch_size, first_batch, s.shard_begin, s.shard_end);
    const torch::Tensor epoch_idx =
        IndexTensor(lb.positions, 0, static_cast<int64_t>(lb.positions.size()), s.device);
    int64_t steps_this_epoch = 0;
    auto last_draw = Clock::now();
    bool bar_drawn = false;
    int64_t b = first_batch;
    while (b < batches && step < total_steps) {
      if (step == fault_step && rank == fault_rank) std::raise(SIGTERM);
      const int64_t k = b - first_batch;
      torch::Tensor idx = epoch_idx.narrow(0, lb.offsets[k], lb.offsets[k + 1] - lb.offsets[k]);
      torch::Tensor x = AsInput(s.shard_x.index_select(0, idx)), y = s.shard_y.index_select(0, idx);
      if (o.dropout > 0)
        torch::manual_seed(MixSeed(o.seed, static_cast<uint64_t>(step), static_cast<uint64_t>(rank)));
      for (auto& p : s.model->parameters()) p.mutable_grad() = torch::Tensor();
      torch::Tensor loss_sum = Loss(s, s.model->forward(x), y, at::Reduction::Sum);
      torch::Tensor loss = loss_sum / loss_denom;
      if (s.reducer) s.reducer->Prepare();
      loss.backward();
      if (s.reducer) DRIFTRUN_RETURN_IF_ERROR(s.reducer->Finish());

      // One small all-reduce per step carries the loss and any stop request.
      std::vector<double> agg = {loss_sum.item<double>(), req.stop && req.stop->load() ? 1.0 : 0.0};
      DRIFTRUN_RETURN_IF_ERROR(AllReduceDoubles(world, &agg));
      const double gloss = agg[0] / loss_denom;
      if (!std::isfinite(gloss)) {
        (void)s.log.Event("error", {{"reason", "non-finite loss"}, {"step", step}, {"epoch", epoch}});
        return Status::Training("training loss is " + std::string(std::isnan(gloss) ? "NaN" : "Inf") +
                                " at step " + std::to_string(step) + " (epoch " + std::to_string(epoch) +
                                "); no checkpoint of this state was written. Lower train.lr, set "
                                "train.grad_clip, or check the data for extreme values");
      }
      if (o.grad_clip > 0) {
        torch::NoGradGuard ng;
        torch::nn::utils::clip_grad_norm_(s.model->parameters(), o.grad_clip);
      }
      s.optim->Step(LearningRate(o.schedule, step, total_steps));
      ++step;
      ++b;
      ++steps_this_epoch;
      epoch_loss_sum += gloss;
      ++epoch_loss_steps;
      samples_seen += static_cast<double>(o.batch_size);
      if (o.verify_every > 0 && step % o.verify_every == 0) {
        DRIFTRUN_RETURN_IF_ERROR(VerifyReplicas(s, step));
        ++replica_checks;
      }
      if (o.log_every_steps > 0 && step % o.log_every_steps == 0) {
        (void)s.log.Event("step", {{"step", step},
                                   {"epoch", epoch},
                                   {"loss", gloss},
                                   {"lr", LearningRate(o.schedule, step - 1, total_steps)}});
      }
      if (req.progress_bar && rank == 0 && Seconds(last_draw, Clock::now()) > 0.1) {
        last_draw = Clock::now();
        bar_drawn = true;
        DrawBar(epoch, epochs, b, batches, epoch_loss_sum / epoch_loss_steps,
                steps_this_epoch * o.batch_size / std::max(1e-9, Seconds(te, Clock::now())));
      }
      if (agg[1] > 0) {
        stopped = true;
        break;
      }
      // Mid-epoch interval checkpoints; one that falls on the epoch's end is
      // written after the epoch's metrics, below.
      if (b < batches && o.checkpoint_every > 0 && step % o.checkpoint_every == 0 && step < total_steps) {
        DRIFTRUN_RETURN_IF_ERROR(save(epoch, b));
      }
    }
    const double secs = Seconds(te, Clock::now());
    train_seconds += secs;
    const bool epoch_complete = b == batches;
    // Metrics at each epoch end and at the final (possibly partial) epoch.
    if (epoch_complete || step >= total_steps) {
      DRIFTRUN_ASSIGN_OR_RETURN(last_eval, Evaluate(s));
      const double sps = steps_this_epoch * o.batch_size / std::max(1e-9, secs);
      nlohmann::json row = {
          {"epoch", epoch},
          {"step", step},
          {"train_loss", epoch_loss_steps ? epoch_loss_sum / epoch_loss_steps : 0.0},
          {"val_loss", std::isnan(last_eval.loss) ? nlohmann::json() : nlohmann::json(last_eval.loss)},
          {"val_metric", std::isnan(last_eval.metric) ? nlohmann::json() : nlohmann::json(last_eval.metric)},
          {"samples_per_s", sps},
          {"lr", LearningRate(o.schedule, std::max<int64_t>(0, step - 1), total_steps)},
          {"wall_s", Seconds(t0, Clock::now())}};
      if (!epoch_complete) row["partial"] = true;
      DRIFTRUN_RETURN_IF_ERROR(AgreeStatus(world, s.log.Metrics(row)));
      if (bar_drawn) std::printf("\n");
      if (rank == 0 && !req.quiet) {
        std::printf("epoch %lld/%lld step %lld train_loss %.6g val_loss %.6g val_%s %.6g %.0f samples/s\n",
                    static_cast<long long>(epoch + 1), static_cast<long long>(epochs),
                    static_cast<long long>(step), row["train_loss"].get<double>(), last_eval.loss,
                    o.train.classification ? "accuracy" : "rmse", last_eval.metric, sps);
        std::fflush(stdout);
      }
    }
    if (epoch_complete) {
      ++epoch;
      first_batch = 0;
      epoch_loss_sum = 0;
      epoch_loss_steps = 0;
      if (!stopped && o.checkpoint_every > 0 && step % o.checkpoint_every == 0 && step < total_steps) {
        DRIFTRUN_RETURN_IF_ERROR(save(epoch, 0));
      }
    } else {
      first_batch = b;
    }
  }

  DRIFTRUN_RETURN_IF_ERROR(save(epoch, first_batch));
  result.steps = step;
  result.stopped = stopped;
  result.val_loss = last_eval.loss;
  result.val_metric = last_eval.metric;
  const double wall = Seconds(t0, Clock::now());
  if (stopped) {
    (void)s.log.Event("stop", {{"step", step}, {"checkpoint", result.last_checkpoint}});
    if (rank == 0) {
      std::printf(
          "\nstopped by signal at step %lld; checkpoint %s\nresume with: driftrun train --config %s "
          "--run-dir %s --resume auto\n",
          static_cast<long long>(step), result.last_checkpoint.c_str(),
          req.config_path.empty() ? "FILE" : req.config_path.c_str(), run_dir.c_str());
      std::fflush(stdout);
    }
    return result;
  }
  nlohmann::json summary = {
      {"name", o.name},
      {"status", "done"},
      {"steps", step},
      {"epochs", epoch},
      {"val_loss", std::isnan(last_eval.loss) ? nlohmann::json() : nlohmann::json(last_eval.loss)},
      {"val_metric", std::isnan(last_eval.metric) ? nlohmann::json() : nlohmann::json(last_eval.metric)},
      {"val_metric_name", o.train.classification ? "accuracy" : "rmse"},
      {"world_size", W},
      {"seed", o.seed},
      {"wall_s", wall},
      {"samples_per_s", samples_seen / std::max(1e-9, train_seconds)},
      {"device", s.device.str()},
      {"backend", s.grad_comm->name()},
      {"checkpoint", result.last_checkpoint},
      {"config_hash", config_hash},
      {"replica_checks", replica_checks},
      {"code_version", req.code_version},
      {"train_rows", s.train_rows.size()},
      {"val_rows", val_total}};
  DRIFTRUN_RETURN_IF_ERROR(AgreeStatus(world, s.log.Summary(summary)));
  (void)s.log.Event("done", {{"step", step}, {"wall_s", wall}});
  if (rank == 0 && !req.quiet) {
    std::printf("done: %lld steps in %.2f s; summary %s/summary.json\n", static_cast<long long>(step), wall,
                run_dir.c_str());
  }
  return result;
}

Result<TrainResult> Train(Communicator& world, const Config& cfg, const TrainRequest& req) {
  auto r = TrainImpl(world, cfg, req);
  if (r.ok() || r.status().code() == Code::kInfra) return r;
  return DedupeStatus(world, r.status());
}

}  // namespace driftrun
