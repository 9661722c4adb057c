#include "trainers/train_options.h"

#include <algorithm>

#include "common/text.h"

namespace driftrun {
namespace {

Status Bad(const Config& cfg, const std::string& key, const std::string& what) {
  return Status::Usage(cfg.Origin(key) + ": key '" + key + "' " + what);
}

}  // namespace

namespace {

// [data] and [model] (and the text n-gram options), as the config says.
void ReadDataAndModel(const Config& c, TrainOptions* o) {
  o->name = c.Str("name");
  o->train_paths = c.StrList("data.train");
  o->train.path = o->train_paths.empty() ? "" : o->train_paths.front();
  o->model.kind = c.Str("model.kind");
  o->train.features = c.Str(o->model.kind == "cnn"    ? "data.images"
                            : o->model.kind == "text" ? "data.text"
                                                      : "data.features");
  o->train.text = o->model.kind == "text";
  o->train.rank = o->model.kind == "cnn" ? 4 : 2;
  o->train.labels = c.Str("data.labels");
  o->train.classification = c.Str("model.task") == "classification";
  o->val_path = c.Str("data.val");
  o->val_fraction = c.Float("data.val_fraction");
  o->memory_mb = c.Float("data.memory_mb");
  o->stream_chunk_rows = c.Int("data.stream_chunk_rows");
  o->model.task = c.Str("model.task");
  o->model.hidden = c.IntList("model.hidden");
  o->model.activation = c.Str("model.activation");
  o->model.dropout = o->dropout = c.Float("model.dropout");
  o->model.channels = c.IntList("model.channels");
  o->model.kernel = c.Int("model.kernel");
  o->model.embedding_dim = c.Int("model.embedding_dim");
  o->model.buckets = o->ngrams.buckets = c.Int("preprocess.text_buckets");
  o->ngrams.word_ngrams = static_cast<int>(c.Int("preprocess.word_ngrams"));
  o->ngrams.char_ngrams = static_cast<int>(c.Int("preprocess.char_ngrams"));
  o->ngrams.max_ids = c.Int("preprocess.max_ngrams");
  o->classes = c.Int("model.classes");
}

// [train], [dist] and [checkpoint], as the config says.
void ReadTraining(const Config& c, TrainOptions* o) {
  o->epochs = c.Int("train.epochs");
  o->max_steps = c.Int("train.max_steps");
  o->batch_size = c.Int("train.batch_size");
  o->optimizer.kind = c.Str("train.optimizer");
  o->optimizer.weight_decay = c.Float("train.weight_decay");
  o->optimizer.momentum = c.Float("train.momentum");
  o->optimizer.beta1 = c.Float("train.beta1");
  o->optimizer.beta2 = c.Float("train.beta2");
  o->optimizer.eps = c.Float("train.eps");
  o->schedule.kind = c.Str("train.schedule");
  o->schedule.lr = c.Float("train.lr");
  o->schedule.warmup_steps = c.Int("train.warmup_steps");
  o->schedule.step_every = c.Int("train.step_every");
  o->schedule.step_gamma = c.Float("train.step_gamma");
  o->schedule.min_lr = c.Float("train.min_lr");
  o->grad_clip = c.Float("train.grad_clip");
  o->seed = static_cast<uint64_t>(c.Int("train.seed"));
  o->init_from = c.Str("train.init_from");
  o->shuffle = c.Bool("train.shuffle");
  o->threads = c.Int("train.threads");
  o->device = c.Str("train.device");
  o->cuda_graph = c.Str("train.cuda_graph");
  o->log_every_steps = c.Int("train.log_every_steps");
  o->backend = c.Str("dist.backend");
  o->bucket_mb = c.Float("dist.bucket_mb");
  o->shared_memory = c.Str("dist.shared_memory");
  o->timeout_s = c.Float("dist.timeout_s");
  o->verify_every = c.Int("dist.verify_every_steps");
  o->checkpoint_every = c.Int("checkpoint.every_steps");
  o->checkpoint_initial = c.Bool("checkpoint.initial");
  o->checkpoint_keep = c.Int("checkpoint.keep");
}

// Every range mistake at once, in the order of the checks (one per try would
// make a stranger fix them one run at a time).
struct Problems {
  std::vector<std::string> lines;
  void Add(const Status& st) {
    if (!st.ok()) lines.push_back(st.message());
  }
};

void CheckDataAndModel(const Config& c, const TrainOptions& o, Problems* p) {
  if (Status st = ValidateName("name", o.name); !st.ok())
    p->Add(Status::Usage(c.Origin("name") + ": " + st.message()));
  if (o.train_paths.empty() || o.train.path.empty())
    p->Add(Bad(c, "data.train", "is empty; name the training HDF5 file (or a list of files)"));
  if (o.val_fraction < 0 || o.val_fraction >= 1) p->Add(Bad(c, "data.val_fraction", "must be in [0, 1)"));
  if (!(o.memory_mb >= 0))
    p->Add(Bad(c, "data.memory_mb", "must be >= 0 (0: a quarter of this machine's memory)"));
  if (o.stream_chunk_rows < 1 || o.stream_chunk_rows > (int64_t{1} << 30))
    p->Add(Bad(c, "data.stream_chunk_rows", "must be between 1 and 1073741824 (2^30)"));
  auto any_below_1 = [](const std::vector<int64_t>& v) {
    return std::any_of(v.begin(), v.end(), [](int64_t h) { return h <= 0; });
  };
  if (any_below_1(o.model.hidden))
    p->Add(Bad(c, "model.hidden", "holds a width <= 0; every layer needs at least one unit"));
  if (any_below_1(o.model.channels))
    p->Add(Bad(c, "model.channels", "holds a count <= 0; every conv block needs a channel"));
  if (o.model.kernel < 1 || o.model.kernel % 2 == 0) p->Add(Bad(c, "model.kernel", "must be odd and >= 1"));
  if (o.model.embedding_dim < 1) p->Add(Bad(c, "model.embedding_dim", "must be >= 1"));
  if (o.ngrams.buckets < 1) p->Add(Bad(c, "preprocess.text_buckets", "must be >= 1"));
  if (o.ngrams.word_ngrams < 1 || o.ngrams.word_ngrams > 2)
    p->Add(Bad(c, "preprocess.word_ngrams", "must be 1 or 2"));
  if (o.ngrams.char_ngrams < 0) p->Add(Bad(c, "preprocess.char_ngrams", "must be >= 0"));
  if (o.ngrams.max_ids < 1) p->Add(Bad(c, "preprocess.max_ngrams", "must be >= 1"));
  if (o.model.kind == "text" && !o.train.classification) {
    p->Add(Bad(c, "model.kind", "= \"text\" needs model.task = \"classification\""));
  }
}

void CheckTraining(const Config& c, const TrainOptions& o, int world, Problems* p) {
  if (o.dropout < 0 || o.dropout >= 1) p->Add(Bad(c, "model.dropout", "must be in [0, 1)"));
  if (o.cuda_graph == "on" && (o.device == "cpu" || o.model.kind != "mlp" || o.dropout > 0)) {
    p->Add(Bad(c, "train.cuda_graph",
               "= \"on\" needs an MLP without dropout trained on CUDA (model.kind = \"" + o.model.kind +
                   "\", model.dropout = " + FormatDouble(o.dropout) + ", train.device = \"" + o.device +
                   "\"); use \"auto\" to capture where possible"));
  }
  if (o.shared_memory == "on" && (o.device == "cuda" || o.backend == "nccl")) {
    p->Add(Bad(
        c, "dist.shared_memory",
        "= \"on\" cannot be used with " +
            std::string(o.device == "cuda" ? "train.device = \"cuda\"" : "dist.backend = \"nccl\"") +
            ": shared memory is how ranks training on the CPU meet (GPUs reduce with NCCL); use \"auto\""));
  }
  if (o.classes < 0) p->Add(Bad(c, "model.classes", "must be >= 0 (0 infers it from the labels)"));
  if (o.epochs < 1 && o.max_steps <= 0)
    p->Add(Bad(c, "train.epochs", "must be >= 1 (or set train.max_steps)"));
  if (o.max_steps < 0) p->Add(Bad(c, "train.max_steps", "must be >= 0"));
  if (o.batch_size < 1) p->Add(Bad(c, "train.batch_size", "must be >= 1"));
  if (o.batch_size % world != 0) {
    p->Add(Bad(c, "train.batch_size",
               "= " + std::to_string(o.batch_size) + " does not divide across " + std::to_string(world) +
                   " ranks; use a multiple of " + std::to_string(world) +
                   " or another number of ranks (mpirun -np; submit: --nodes x --ntasks-per-node)"));
  }
  if (!(o.schedule.lr > 0)) p->Add(Bad(c, "train.lr", "must be > 0"));
  if (o.optimizer.weight_decay < 0) p->Add(Bad(c, "train.weight_decay", "must be >= 0"));
  if (o.optimizer.momentum < 0 || o.optimizer.momentum >= 1)
    p->Add(Bad(c, "train.momentum", "must be in [0, 1)"));
  if (o.optimizer.beta1 < 0 || o.optimizer.beta1 >= 1) p->Add(Bad(c, "train.beta1", "must be in [0, 1)"));
  if (o.optimizer.beta2 < 0 || o.optimizer.beta2 >= 1) p->Add(Bad(c, "train.beta2", "must be in [0, 1)"));
  if (!(o.optimizer.eps > 0)) p->Add(Bad(c, "train.eps", "must be > 0"));
  if (o.schedule.warmup_steps < 0) p->Add(Bad(c, "train.warmup_steps", "must be >= 0"));
  if (o.schedule.step_every < 1) p->Add(Bad(c, "train.step_every", "must be >= 1"));
  if (o.grad_clip < 0) p->Add(Bad(c, "train.grad_clip", "must be >= 0"));
  if (o.threads < 0 || o.threads > 1024)
    p->Add(Bad(c, "train.threads", "must be in [0, 1024] (0: the cores of this node shared by its ranks)"));
  if (o.log_every_steps < 0) p->Add(Bad(c, "train.log_every_steps", "must be >= 0"));
  if (!(o.bucket_mb > 0)) p->Add(Bad(c, "dist.bucket_mb", "must be > 0"));
  if (!(o.timeout_s > 0 && o.timeout_s <= 1e7))
    p->Add(Bad(c, "dist.timeout_s", "must be in (0, 1e7] seconds"));
  if (o.verify_every < 0) p->Add(Bad(c, "dist.verify_every_steps", "must be >= 0"));
  if (o.checkpoint_every < 0) p->Add(Bad(c, "checkpoint.every_steps", "must be >= 0"));
  if (o.checkpoint_keep < 1) p->Add(Bad(c, "checkpoint.keep", "must be >= 1"));
  if (o.backend == "nccl" && o.device == "cpu") {
    p->Add(Bad(c, "dist.backend", "is nccl but train.device is cpu; NCCL reduces GPU tensors only"));
  }
}

// The sections training does not read but a run uses afterwards (drift
// thresholds for its reference, the policy it registers with): refused here,
// before any work, rather than after the run.
void CheckAfterTraining(const Config& c, Problems* p) {
  const double share = c.Float("drift.share");
  if (!(share > 0 && share <= 1)) p->Add(Bad(c, "drift.share", "must be in (0, 1]"));
  const double rise = c.Float("drift.missing_rise");
  if (!(rise >= 0 && rise <= 1)) p->Add(Bad(c, "drift.missing_rise", "must be in [0, 1]"));
  if (!(c.Float("registry.tolerance") >= 0)) p->Add(Bad(c, "registry.tolerance", "must be >= 0"));
  for (const auto& g : c.StrList("registry.gated")) {
    if (Status st = ValidateName("gated alias", g); !st.ok()) {
      p->Add(Status::Usage(c.Origin("registry.gated") + ": " + st.message()));
    }
  }
}

}  // namespace

Result<TrainOptions> TrainOptions::FromConfig(const Config& c, int world) {
  TrainOptions o;
  DRIFTRUN_ASSIGN_OR_RETURN(o.preprocess, PreprocessOptions::FromConfig(c));
  ReadDataAndModel(c, &o);
  ReadTraining(c, &o);
  Problems p;
  CheckDataAndModel(c, o, &p);
  CheckTraining(c, o, world, &p);
  CheckAfterTraining(c, &p);
  if (p.lines.empty()) return o;
  std::string all;
  for (const auto& line : p.lines) all += (all.empty() ? "" : "\n") + line;
  return Status::Usage(all);
}

}  // namespace driftrun
