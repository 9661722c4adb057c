// Internal to trainers/: what one rank holds while training (Session), and the
// pieces of Train() that read or change it. Each piece is collective where it
// says so: every rank calls it at the same point, and a failure on one rank
// reaches all through AgreeStatus. Includes LibTorch; runner/ never sees it.
//
// Call order (trainer.cpp): OpenTrainingData → ResolveRunFolder (resume.h) →
// SetupDevice → ReadShard → FitPreprocessing → BuildModel → LoadTensors → RunStepLoop
// (step_loop.h) → final checkpoint and summary.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "common/config.h"
#include "dataio/h5_io.h"
#include "dataio/stream_order.h"
#include "dataio/tabular_data.h"
#include "dataio/tabular_set.h"
#include "models/checkpoint.h"
#include "models/model_spec.h"
#include "trainers/direct_mlp.h"
#ifdef DRIFTRUN_WITH_CUDA
#include "trainers/cuda_graph.h"
#endif
#include "trainers/flat_params.h"
#include "trainers/grad_reducer.h"
#include "trainers/optimizer.h"
#include "trainers/preprocess.h"
#include "trainers/shard_stream.h"
#include "trainers/shared_step.h"
#include "trainers/spec_model.h"
#include "trainers/train_options.h"
#include "trainers/trainer.h"

namespace driftrun {

struct Session {
  TrainOptions o;
  Communicator* world = nullptr;
  Communicator* grad_comm = nullptr;  // world, or NCCL on GPUs
  std::unique_ptr<Communicator> nccl;
  torch::Device device = torch::kCPU;
  std::unique_ptr<TabularSet> train_set;  // data.train: one file or several read as one
  TabularMeta meta;
  std::vector<int64_t> train_rows;  // global, sorted
  std::string train_sample;         // TrainDataSample (checkpoints; a resume compares it)
  int64_t shard_begin = 0, shard_end = 0;
  TabularRows shard;                    // this rank's raw rows (until LoadTensors)
  torch::Tensor shard_x, shard_y;       // this rank's rows, preprocessed, on the device
  std::unique_ptr<TabularSet> val_set;  // data.val (columns as the training data's), else null
  std::vector<int64_t> val_rows;        // global (file rows or split rows)
  FitResult fit;
  ModelSpec spec;
  SpecModel model{nullptr};
  std::unique_ptr<FlatParams> flat;  // the model's parameters and gradients, flat
  std::unique_ptr<Optimizer> optim;
  bool autograd_step = false;         // TrainRequest::autograd_step: no DirectMlp (benchmarks)
  int step_pipeline = -1;             // TrainRequest::step_pipeline
  std::unique_ptr<DirectMlp> direct;  // the hand-written backward, when the model allows it
#ifdef DRIFTRUN_WITH_CUDA
  std::unique_ptr<CudaGraphStep> graph;  // direct's step as a CUDA graph (train.cuda_graph)
#endif
  std::unique_ptr<GradReducer> reducer;  // null with one rank or a shared-memory step
  std::unique_ptr<SharedStep> shared;    // dist.shared_memory (CPU, ranks on one host), else null
  std::string shared_note;               // why ranks did not share memory (auto), for the start event
  torch::Tensor val_x, val_y;
  int64_t val_count = 0;  // global
  // Streaming (data.memory_mb): the epoch order's chunks and windows (chunk_rows
  // 0: the shard is held in memory), the window reader, and the budget.
  StreamOrder stream;
  double memory_mb = 0;
  int64_t data_bytes = 0;                  // the whole training set, raw + preprocessed
  std::set<int64_t> seen_classes;          // class ids of this rank's training rows (fitting only)
  std::vector<std::string> data_warnings;  // e.g. more held than data.memory_mb (start event, stderr)
  // Values the preprocessing imputed and clipped on this rank, per column, over
  // `rows` rows: every row read once (held shard and held-out rows; streamed
  // windows of the first epoch this process trains).
  struct PreCounts {
    int64_t rows = 0;
    std::vector<int64_t> imputed, clipped;
    void Add(const TransformReport& r, int64_t n);
  } pre_counts;
  std::unique_ptr<ShardStream> streamer;  // last: stops its reads before the files close
};

// ---- set-up (train_setup.cpp) --------------------------------------------------

// Collective. Opens data.train (and data.val) on every rank, checks their
// layout, and decides the training and validation rows.
Status OpenTrainingData(Session& s);
// Picks the device and, on CUDA with several ranks (or dist.backend = nccl),
// makes the NCCL communicator for gradients. local_rank chooses the GPU.
// A non-null `device_comm` hands out the NCCL communicator instead (kept by
// the caller across runs).
Status SetupDevice(Session& s, int local_rank, const DeviceCommFactory& device_comm);
// Collective. Whether ranks hold their shards or stream them: the checkpoint's
// order on a resume, else streaming when the whole training set is larger
// than data.memory_mb (the smallest budget of all ranks).
Status PlanDataMode(Session& s, const CheckpointState* resume_from);
// A hash of up to 64 training rows spread evenly over the training set
// (features, labels, texts): a resume compares it with its checkpoint's to
// notice data replaced by other data with as many rows. 64 one-row reads.
Result<std::string> TrainDataSample(const Session& s);
// Collective. Reads this rank's contiguous shard of the training file (one
// hyperslab) into s.shard; when streaming, only its held-out rows (read in
// pieces), the training rows being read window by window as they train.
Status ReadShard(Session& s);
// ---- streaming set-up (stream_setup.cpp) -----------------------------------------

// Rows [begin, begin + count) of the training files (class ids checked
// against data.classes when classifying).
Status ReadTrainRows(const Session& s, int64_t begin, int64_t count, TabularRows* out);
// Appends the rows of `part` (starting at file row `first`) that `rows`
// (sorted, global) lists.
void KeepRows(const TabularRows& part, int64_t first, const std::vector<int64_t>& rows, int64_t dim,
              int64_t ldim, TabularRows* out);
// When streaming: keeps this rank's held-out rows of the shard in s.shard.
Status ReadShardStreaming(Session& s);
// Collective, when streaming: the preprocessing fit over the shard read in pieces.
Result<FitResult> FitStreaming(Session& s);

// Collective. Takes the fitted preprocessing from `resume_from` (non-null) or
// fits it on the training rows of all ranks; checks the class count.
Status FitPreprocessing(Session& s, const CheckpointState* resume_from);
// Collective. Model from the description, optimizer, gradient reducer; weights
// from `resume_from` (read from `resume_path`) or broadcast from rank 0. The
// three steps it runs:
Status BuildModel(Session& s, const CheckpointState* resume_from, const std::string& resume_path);
//   collective: s.spec from the options and the data's shape;
Status AgreeModelSpec(Session& s);
//   local: seeds LibTorch's global RNG with train.seed and builds the module,
//   its flat parameter and gradient buffers and the optimizer (threads as
//   ranks share that RNG: tests serialise this step);
Status InitModel(Session& s);
//   collective: weights loaded or broadcast, the gradient reducer made.
Status SyncModelState(Session& s, const CheckpointState* resume_from, const std::string& resume_path);
// Collective. Preprocessed training and validation tensors on the device.
Status LoadTensors(Session& s);
// Threads per rank when train.threads = 0: the cores shared by the node's ranks.
int DefaultThreads(int local_size);

// ---- evaluation (evaluation.cpp) -----------------------------------------------

struct Eval {
  double loss = NAN;
  double metric = NAN;  // accuracy (classification) or RMSE
};
// Model input from stored rows: bf16 features widen to float32; ids stay int64.
torch::Tensor AsInput(const torch::Tensor& x);
torch::Tensor Loss(const Session& s, const torch::Tensor& pred, const torch::Tensor& y,
                   at::Reduction::Reduction red);
// Collective. Loss and metric over all ranks' validation rows (NaN if none).
Result<Eval> Evaluate(Session& s);

// ---- model state (snapshot.cpp) ------------------------------------------------

// Everything a checkpoint holds besides the weights and optimizer state.
struct LoopPosition {
  int64_t step = 0;
  int64_t epoch = 0;
  int64_t next_batch = 0;
  double epoch_loss_sum = 0;
  int64_t epoch_loss_steps = 0;
  double samples_seen = 0;
};
CheckpointState Snapshot(const Session& s, const LoopPosition& at, const std::string& config_hash);
Status LoadModelState(Session& s, const CheckpointState& ck);
// Collective over grad_comm: rank 0's initial weights to every rank.
Status BroadcastParams(Session& s);
// Collective. Status::Infra unless every rank holds bit-identical weights.
Status VerifyReplicas(Session& s, int64_t step);

// Sorted row indices in [begin, end) of the sorted `rows`, relative to begin.
std::vector<int64_t> PositionsIn(const std::vector<int64_t>& rows, int64_t begin, int64_t end);
torch::Tensor IndexTensor(const std::vector<int64_t>& idx, int64_t from, int64_t to, torch::Device dev);

}  // namespace driftrun
