// Set-up of a training session: data, device, shard, preprocessing fit, model.
#include <algorithm>
#include <thread>

#include "comm/collectives.h"
#include "dataio/sharding.h"
#include "trainers/train_session.h"
#ifdef DRIFTRUN_WITH_CUDA
#include "comm/nccl_communicator.h"
#include "trainers/cuda_graph.h"
#include "trainers/cuda_stream.h"
#endif

namespace driftrun {
namespace {

// Raw features of rows in memory as a float32 tensor on the device; for text,
// the hashed n-gram ids (int64 [rows, max_ngrams]) computed on the device.
Result<torch::Tensor> RawFeatures(const Session& s, TabularRows& r) {
  if (s.o.train.text) return HashText(r.text, s.o.ngrams, s.device);
  return torch::from_blob(r.x.data(), {r.rows, s.meta.dim}, torch::kFloat).to(s.device, false, true);
}

// Applies the fitted preprocessing (the fused transform kernel, on the device)
// and returns the features and labels as device tensors; counts the values
// imputed and clipped (s.pre_counts).
Status ToTensors(Session& s, TabularRows& r, torch::Tensor* x, torch::Tensor* y) {
  DRIFTRUN_ASSIGN_OR_RETURN(torch::Tensor raw, RawFeatures(s, r));
  if (s.o.train.text) {
    *x = raw;
  } else {
    TransformReport counts;
    DRIFTRUN_ASSIGN_OR_RETURN(*x, ApplyPreprocessor(s.fit.pre, raw, &counts));
    s.pre_counts.Add(counts, r.rows);
  }
  if (s.o.train.classification) {
    *y = torch::from_blob(r.cls.data(), {r.rows}, torch::kLong).to(s.device, false, true);
  } else {
    *y = torch::from_blob(r.y.data(), {r.rows, s.meta.label_dim}, torch::kFloat).to(s.device, false, true);
  }
  return Status::Ok();
}

std::vector<int64_t> AllRows(int64_t n) {
  std::vector<int64_t> rows(n);
  for (int64_t i = 0; i < n; ++i) rows[i] = i;
  return rows;
}

}  // namespace

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

Status OpenTrainingData(Session& s) {
  Communicator& world = *s.world;
  const TrainOptions& o = s.o;
  Status local = [&]() -> Status {
    DRIFTRUN_ASSIGN_OR_RETURN(s.train_set, TabularSet::Open(o.train_paths, o.train));
    s.meta = s.train_set->meta();
    return Status::Ok();
  }();
  DRIFTRUN_RETURN_IF_ERROR(AgreeStatus(world, local.WithContext("[data] train")));

  local = [&]() -> Status {
    if (o.val_path.empty()) {
      TrainValSplit split = s.train_set->Split(o.val_fraction);  // each file's own split
      s.train_rows = std::move(split.train);
      s.val_rows = std::move(split.val);
      return Status::Ok();
    }
    DRIFTRUN_ASSIGN_OR_RETURN(s.val_set, TabularSet::Open({o.val_path}, o.train));
    const TabularMeta& vm = s.val_set->meta();
    if (vm.dim != s.meta.dim || vm.label_dim != s.meta.label_dim) {
      return Status::Data("'" + o.val_path + "' has " + std::to_string(vm.dim) + " features and " +
                          std::to_string(vm.label_dim) + " targets, but the training data has " +
                          std::to_string(s.meta.dim) + " and " + std::to_string(s.meta.label_dim));
    }
    // By name, as the training files meet each other (found by a stranger:
    // data.val's columns were taken by position, and val_loss was wrong).
    if (s.meta.named) DRIFTRUN_RETURN_IF_ERROR(s.val_set->Reorder(s.meta.feature_names, "the training data"));
    s.train_rows = AllRows(s.meta.rows);
    s.val_rows = AllRows(vm.rows);
    return Status::Ok();
  }();
  DRIFTRUN_RETURN_IF_ERROR(AgreeStatus(world, local.WithContext("[data] val")));
  s.val_count = static_cast<int64_t>(s.val_rows.size());
  if (BatchesPerEpoch(static_cast<int64_t>(s.train_rows.size()), o.batch_size) == 0) {
    return Status::Data(s.train_set->Describe() + " has " + std::to_string(s.train_rows.size()) +
                        " training rows, fewer than train.batch_size = " + std::to_string(o.batch_size) +
                        "; lower the batch size or add data");
  }
  return Status::Ok();
}

int DefaultThreads(int local_size) {
  int hw = static_cast<int>(std::thread::hardware_concurrency());
  return std::max(1, hw / std::max(1, local_size));
}

Status SetupDevice(Session& s, int local_rank, const DeviceCommFactory& device_comm) {
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
  if (s.o.cuda_graph == "on" && !use_cuda) {
    return Status::Usage(
        "train.cuda_graph = \"on\" needs CUDA, but training runs on the CPU here (no GPU "
        "visible); use \"auto\"");
  }
  s.grad_comm = s.world;
  if (!use_cuda) return Status::Ok();
#ifdef DRIFTRUN_WITH_CUDA
  int dev = local_rank % static_cast<int>(torch::cuda::device_count());
  s.device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(dev));
  if (((s.o.backend != "mpi" && s.world->size() > 1) || s.o.backend == "nccl") && device_comm) {
    auto kept = device_comm(dev, CurrentCudaStream(dev), s.o.timeout_s);
    if (!kept.ok()) return kept.status();
    s.grad_comm = kept.value();
  } else if ((s.o.backend != "mpi" && s.world->size() > 1) || s.o.backend == "nccl") {
    auto nc = NcclCommunicator::Create(*s.world, dev, CurrentCudaStream(dev), s.o.timeout_s);
    if (!nc.ok()) return nc.status();
    s.nccl = nc.take();
    s.grad_comm = s.nccl.get();
  }
  if (!s.grad_comm->device_buffers() && s.world->size() > 1) {
    return Status::Usage("dist.backend = \"mpi\" reduces host buffers; with train.device = cuda use nccl");
  }
  return Status::Ok();
#else
  (void)local_rank;
  (void)device_comm;
  return Status::Infra(
      "this driftrun was built without CUDA (no nvcc at build time); set train.device = \"cpu\"");
#endif
}

Status ReadShard(Session& s) {
  std::tie(s.shard_begin, s.shard_end) = ContiguousShare(s.meta.rows, s.world->rank(), s.world->size());
  Status local = s.streamer ? ReadShardStreaming(s)
                            : ReadTrainRows(s, s.shard_begin, s.shard_end - s.shard_begin, &s.shard);
  return AgreeStatus(*s.world, local.WithContext("reading the training shard"));
}

// Collective. A class among the held-out rows (the val_fraction split) that no
// training row has is an output the model would not have: found here, before
// any training, not as a LibTorch error after an epoch.
Status CheckHeldOutClasses(Session& s) {
  int64_t top = -1;
  if (s.streamer) {  // s.shard holds the held-out rows only
    for (int64_t c : s.shard.cls) top = std::max(top, c);
  } else {
    for (int64_t p : PositionsIn(s.val_rows, s.shard_begin, s.shard_end)) top = std::max(top, s.shard.cls[p]);
  }
  DRIFTRUN_RETURN_IF_ERROR(s.world->AllReduce(&top, 1, DType::kInt64, ReduceOp::kMax));
  if (top < s.fit.classes) return Status::Ok();
  return Status::Data("class " + std::to_string(top) + " occurs only in the held-out rows of " +
                      s.train_set->Describe() +
                      " (data.val_fraction split): the training rows hold classes 0.." +
                      std::to_string(s.fit.classes - 1) + ". Set model.classes = " + std::to_string(top + 1) +
                      " or give data.val a file whose classes the training data covers");
}

// Collective. The fit over this rank's shard held in memory.
Status FitHeld(Session& s) {
  const TrainOptions& o = s.o;
  const std::vector<int64_t> train_pos = PositionsIn(s.train_rows, s.shard_begin, s.shard_end);
  std::vector<int64_t> train_cls;
  if (o.train.classification) {
    for (int64_t p : train_pos) train_cls.push_back(s.shard.cls[p]);
    s.seen_classes.insert(train_cls.begin(), train_cls.end());
  }
  if (o.train.text) {
    // No feature statistics to fit: only the class count, merged over ranks.
    int64_t top = 0;
    for (int64_t c : train_cls) top = std::max(top, c + 1);
    DRIFTRUN_RETURN_IF_ERROR(s.world->AllReduce(&top, 1, DType::kInt64, ReduceOp::kMax));
    s.fit.classes = top;
    return Status::Ok();
  }
  DRIFTRUN_ASSIGN_OR_RETURN(torch::Tensor raw, RawFeatures(s, s.shard));
  torch::Tensor fit_x =
      raw.index_select(0, IndexTensor(train_pos, 0, static_cast<int64_t>(train_pos.size()), s.device));
  DRIFTRUN_ASSIGN_OR_RETURN(s.fit,
                            FitPreprocessor(*s.world, fit_x, train_cls, o.train, s.meta, o.preprocess));
  return Status::Ok();
}

// Collective. model.classes = 0 takes the largest label + 1: the classes
// below it that no training row has are named in a warning (found by a
// stranger: one stray label 5 among 0..2 made a 6-class model in silence).
Status WarnEmptyClasses(Session& s) {
  std::vector<double> has(static_cast<size_t>(s.fit.classes), 0);
  for (int64_t c : s.seen_classes) {
    if (c >= 0 && c < s.fit.classes) has[static_cast<size_t>(c)] = 1;
  }
  DRIFTRUN_RETURN_IF_ERROR(AllReduceDoubles(*s.world, &has, ReduceOp::kMax));
  std::string list;
  int64_t empty = 0;
  for (size_t c = 0; c < has.size(); ++c) {
    if (has[c] != 0) continue;
    if (++empty <= 10) list += (list.empty() ? "" : ", ") + std::to_string(c);
  }
  if (empty == 0) return Status::Ok();
  if (empty > 10) list += ", ... (" + std::to_string(empty) + " in all)";
  s.data_warnings.push_back(
      "model.classes = 0 takes the largest label + 1: " + std::to_string(s.fit.classes) +
      " classes, but no training row has class " + list +
      ": a stray label? Fix the labels, or set model.classes to the number of classes");
  return Status::Ok();
}

Status FitPreprocessing(Session& s, const CheckpointState* resume_from) {
  const TrainOptions& o = s.o;
  if (resume_from) {
    s.fit.pre = resume_from->pre;
    s.fit.classes = resume_from->classes;
    return Status::Ok();
  }
  if (s.streamer) {
    DRIFTRUN_ASSIGN_OR_RETURN(s.fit, FitStreaming(s));
  } else {
    DRIFTRUN_RETURN_IF_ERROR(FitHeld(s));
  }
  s.data_warnings.insert(s.data_warnings.end(), s.fit.warnings.begin(), s.fit.warnings.end());
  if (o.train.classification && o.classes > 0) s.fit.classes = o.classes;
  if (o.train.classification && s.fit.classes < 2) {
    return Status::Data(s.train_set->Describe() +
                        " labels hold a single class; classification needs two or more");
  }
  if (o.train.classification && o.classes == 0) DRIFTRUN_RETURN_IF_ERROR(WarnEmptyClasses(s));
  return o.train.classification ? CheckHeldOutClasses(s) : Status::Ok();
}

Status AgreeModelSpec(Session& s) {
  const TrainOptions& o = s.o;
  Status local = [&]() -> Status {
    const std::vector<int64_t> input = o.train.text ? std::vector<int64_t>{o.ngrams.max_ids} : s.meta.shape;
    DRIFTRUN_ASSIGN_OR_RETURN(
        s.spec, BuildModelSpec(o.model, input, o.train.classification ? s.fit.classes : s.meta.label_dim));
    if (o.train.text) {
      s.spec.word_ngrams = o.ngrams.word_ngrams;
      s.spec.char_ngrams = o.ngrams.char_ngrams;
    }
    return Status::Ok();
  }();
  return AgreeStatus(*s.world, local.WithContext("[model]"));
}

Status InitModel(Session& s) {
  torch::manual_seed(s.o.seed);
  s.model = SpecModel(s.spec);
  s.model->to(s.device);
  NamedTensors named;
  for (auto& p : s.model->named_parameters()) named.emplace_back(p.key(), p.value());
  DRIFTRUN_ASSIGN_OR_RETURN(FlatParams flat, FlatParams::Make(named));
  s.flat = std::make_unique<FlatParams>(std::move(flat));
  s.optim = std::make_unique<Optimizer>(s.o.optimizer, s.flat.get());
  // The hand-written MLP backward: the same gradients, less per-step overhead.
  if (!s.autograd_step) s.direct = DirectMlp::Make(s.spec, *s.flat, s.o.train.classification);
#ifdef DRIFTRUN_WITH_CUDA
  if (s.direct && s.device.is_cuda() && s.o.cuda_graph != "off")
    s.graph = std::make_unique<CudaGraphStep>(s.direct.get());
#endif
  return Status::Ok();
}

namespace {

// Collective. The shared-memory step (shared_step.h) where dist.shared_memory
// and the run allow it; s.shared stays null otherwise (s.shared_note says why).
Status ShareMemory(Session& s) {
  const std::string& mode = s.o.shared_memory;
  if (mode == "off") return Status::Ok();
  if (!s.device.is_cpu() || s.grad_comm != s.world) {
    const std::string why = "training on " + s.device.str() + " with " + s.grad_comm->name();
    s.shared_note = "all-reduce: no shared memory (" + why + ")";
    if (mode != "on") return Status::Ok();
    return Status::Usage("dist.shared_memory = \"on\", but the ranks cannot share memory: " + why +
                         ". It works for ranks on the CPU of one host; use \"auto\" or \"off\" here");
  }
  std::string why;
  DRIFTRUN_ASSIGN_OR_RETURN(s.shared, SharedStep::Make(*s.world, s.flat.get(), s.optim.get(), &why));
  if (s.shared) return Status::Ok();
  s.shared_note = "all-reduce: no shared memory (" + why + ")";
  if (mode != "on") return Status::Ok();
  // The run could share memory but the host refused it (no room in /dev/shm,
  // ranks on several hosts): the machine, not the config (exit 5).
  // The group is sound (the ranks just agreed): one message, not one per rank.
  return DedupeStatus(
      *s.world,
      Status::Infra("dist.shared_memory = \"on\", but the ranks could not share memory: " + why +
                    ". Free room in /dev/shm (df -h /dev/shm), run all ranks on one host, or use \"auto\""));
}

}  // namespace

Status SyncModelState(Session& s, const CheckpointState* resume_from, const std::string& resume_path) {
  Communicator& world = *s.world;
  if (resume_from) {
    Status local = LoadModelState(s, *resume_from);
    DRIFTRUN_RETURN_IF_ERROR(AgreeStatus(world, local.WithContext("loading '" + resume_path + "'")));
  } else {
    DRIFTRUN_RETURN_IF_ERROR(BroadcastParams(s));
  }
  if (world.size() == 1) return Status::Ok();
  DRIFTRUN_RETURN_IF_ERROR(ShareMemory(s));
  if (!s.shared) {
    s.reducer = std::make_unique<GradReducer>(*s.grad_comm, s.flat.get(),
                                              static_cast<size_t>(s.o.bucket_mb * 1024 * 1024));
  }
  return Status::Ok();
}

Status BuildModel(Session& s, const CheckpointState* resume_from, const std::string& resume_path) {
  DRIFTRUN_RETURN_IF_ERROR(AgreeModelSpec(s));
  DRIFTRUN_RETURN_IF_ERROR(AgreeStatus(*s.world, InitModel(s)));
  return SyncModelState(s, resume_from, resume_path);
}

void Session::PreCounts::Add(const TransformReport& r, int64_t n) {
  rows += n;
  imputed.resize(std::max(imputed.size(), r.imputed.size()), 0);
  clipped.resize(std::max(clipped.size(), r.clipped.size()), 0);
  for (size_t j = 0; j < r.imputed.size(); ++j) imputed[j] += r.imputed[j];
  for (size_t j = 0; j < r.clipped.size(); ++j) clipped[j] += r.clipped[j];
}

Status LoadTensors(Session& s) {
  Communicator& world = *s.world;
  const int rank = world.rank(), W = world.size();
  TabularRows vrows;
  std::vector<int64_t> val_pos;
  Status local;
  if (s.val_set) {
    auto [vb, ve] = ContiguousShare(s.val_count, rank, W);
    local = s.val_set->ReadRange(vb, ve - vb, s.fit.classes, &vrows);
    DRIFTRUN_RETURN_IF_ERROR(AgreeStatus(world, local.WithContext("reading validation rows")));
  } else if (!s.streamer) {
    val_pos = PositionsIn(s.val_rows, s.shard_begin, s.shard_end);
  }
  if (s.streamer) {  // the training rows come window by window; s.shard holds the held-out ones
    local = ToTensors(s, s.val_set ? vrows : s.shard, &s.val_x, &s.val_y);
  } else {
    local = ToTensors(s, s.shard, &s.shard_x, &s.shard_y);
    if (local.ok() && s.val_set) local = ToTensors(s, vrows, &s.val_x, &s.val_y);
  }
  DRIFTRUN_RETURN_IF_ERROR(AgreeStatus(world, local.WithContext("preprocessing")));
  if (!s.val_set && !s.streamer) {
    torch::Tensor idx = IndexTensor(val_pos, 0, static_cast<int64_t>(val_pos.size()), s.device);
    s.val_x = s.shard_x.index_select(0, idx);
    s.val_y = s.shard_y.index_select(0, idx);
  }
  s.shard = TabularRows();  // the raw rows are not needed any more
  return Status::Ok();
}

}  // namespace driftrun
