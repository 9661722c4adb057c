#include "trainers/step_loop.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <c10/core/Event.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>

#include "comm/collectives.h"
#include "dataio/sharding.h"
#include "trainers/schedule.h"

namespace driftrun {
namespace {

// This rank's rows of global batch b of the current epoch: features, labels
// and their rows in the file (rows may be null: not wanted).
using BatchSource = std::function<Status(int64_t b, torch::Tensor* x, torch::Tensor* y, torch::Tensor* rows)>;

// The batches of an epoch from the shard held in memory.
BatchSource HeldBatches(Session& s, const std::vector<int64_t>& order, int64_t first_batch) {
  auto lb = std::make_shared<LocalBatches>(
      LocalBatchPositions(order, s.o.batch_size, first_batch, s.shard_begin, s.shard_end));
  const torch::Tensor epoch_idx =
      IndexTensor(lb->positions, 0, static_cast<int64_t>(lb->positions.size()), s.device);
  return
      [&s, lb, epoch_idx, first_batch](int64_t b, torch::Tensor* x, torch::Tensor* y, torch::Tensor* rows) {
        const int64_t k = b - first_batch;
        torch::Tensor idx = epoch_idx.narrow(0, lb->offsets[k], lb->offsets[k + 1] - lb->offsets[k]);
        *x = s.shard_x.index_select(0, idx);
        *y = s.shard_y.index_select(0, idx);
        if (rows) *rows = idx + s.shard_begin;
        return Status::Ok();
      };
}

// The hand-written MLP step, replayed from a CUDA graph where there is one.
// A capture that fails is an error with train.cuda_graph = "on"; with "auto"
// a warning, and the run goes on launching kernels.
Result<torch::Tensor> DirectStep(Session& s, const torch::Tensor& x, const torch::Tensor& y, double denom,
                                 const std::function<void(size_t)>& on_grad) {
#ifdef DRIFTRUN_WITH_CUDA
  if (s.graph) {
    Result<torch::Tensor> r = s.graph->Step(x, y, denom, on_grad);
    if (r.ok() || s.o.cuda_graph == "on") return r;
    std::fprintf(stderr, "driftrun train: warning: %s; training on without a CUDA graph (train.cuda_graph)\n",
                 r.status().message().c_str());
    s.graph.reset();
  }
#endif
  return s.direct->Step(x, y, denom, on_grad);
}

// One launched step whose loss is not read yet. On CUDA the loss travels to
// pinned host memory behind the step's kernels, so reading it waits for this
// step only: the host launches the next step meanwhile and the GPU does not
// idle while the host reports, gathers the next batch and launches kernels.
struct InFlight {
  int64_t step = -1;  // the step's index (at.step before it); -1: none
  int64_t epoch = 0, batch = 0;
  double t_start = 0;                 // clock at its launch
  std::vector<double> agg;            // global loss sum, stop requests (after the all-reduce)
  std::unique_ptr<Work> work;         // that all-reduce, when started at launch (CPU)
  torch::Tensor loss_host;            // CUDA: the loss sum, copied into pinned memory
  std::unique_ptr<c10::Event> ready;  // recorded on the stream after that copy
  StepTimes times;
  bool active() const { return step >= 0; }
};

// Forward, backward, all-reduce of gradients, optimizer step: everything that
// changes the weights. On the CPU the small all-reduce of the loss and any stop
// request starts here and completes while the optimizer runs.
Status LaunchStep(Session& s, const LoopPlan& plan, const LoopHooks& hooks, const BatchSource& batch,
                  int64_t b, const LoopPosition& at, InFlight* f) {
  const TrainOptions& o = s.o;
  const Clock& clock = *hooks.clock;
  f->step = at.step;
  f->epoch = at.epoch;
  f->batch = b;
  const double t0 = f->t_start = clock.Seconds();
  torch::Tensor x, y, file_rows;
  DRIFTRUN_RETURN_IF_ERROR(batch(b, &x, &y, o.dropout > 0 ? &file_rows : nullptr));
  x = AsInput(x);
  const double tb = clock.Seconds();
  // Dropout masks follow each sample's row in the file, not the rank.
  if (o.dropout > 0) s.model->set_dropout_keys(DropoutKeys(file_rows, o.seed, f->step));
  torch::Tensor loss_sum;
  if (s.direct) {
    if (s.reducer) s.reducer->Prepare();
    GradReducer* r = s.reducer.get();
    const std::function<void(size_t)> on_grad =
        r ? [r](size_t i) { r->GradReady(i); } : std::function<void(size_t)>();
    DRIFTRUN_ASSIGN_OR_RETURN(loss_sum, DirectStep(s, x, y, plan.loss_denom, on_grad));
  } else {
    s.flat->ZeroGrad();
    loss_sum = Loss(s, s.model->forward(x), y, at::Reduction::Sum);
    if (o.dropout > 0) s.model->set_dropout_keys(torch::Tensor());
    torch::Tensor loss = loss_sum / plan.loss_denom;
    if (s.reducer) s.reducer->Prepare();
    loss.backward();
  }
  const double t1 = clock.Seconds();
  if (s.reducer) DRIFTRUN_RETURN_IF_ERROR(s.reducer->Finish());
  const double t2 = clock.Seconds();
  const bool on_device = loss_sum.is_cuda();
  if (!on_device) {
    f->agg = {loss_sum.item<double>(), hooks.stop && hooks.stop->load() ? 1.0 : 0.0};
    f->work = s.world->AllReduceAsync(f->agg.data(), f->agg.size(), DType::kFloat64, ReduceOp::kSum);
  }
  const double t3 = clock.Seconds();
  const double lr = LearningRate(o.schedule, f->step, plan.total_steps);
  double shared_sync_s = 0;
  if (s.shared) {
    DRIFTRUN_RETURN_IF_ERROR(s.shared->Step(lr, o.grad_clip, &shared_sync_s));
  } else {
    if (o.grad_clip > 0) {
      torch::NoGradGuard ng;
      torch::nn::utils::clip_grad_norm_(s.model->parameters(), o.grad_clip);
    }
    s.optim->Step(lr);
  }
  if (on_device) {
    f->loss_host = at::empty(loss_sum.sizes(), loss_sum.options().device(at::kCPU).pinned_memory(true));
    f->loss_host.copy_(loss_sum, /*non_blocking=*/true);
    f->ready = std::make_unique<c10::Event>(c10::DeviceType::CUDA);
    f->ready->record(c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA)->getStream(loss_sum.device()));
  }
  const double t4 = clock.Seconds();
  f->times.data_s = tb - t0;
  f->times.compute_s = t1 - tb + (t3 - t2);
  f->times.allreduce_s = (t2 - t1) + shared_sync_s;
  f->times.optimizer_s = t4 - t3 - shared_sync_s;
  return Status::Ok();
}

// Reads a launched step's loss (waiting for its kernels on CUDA), agrees on it
// and on stop requests across ranks. A NaN loss is refused here, before
// anything can save the weights it made.
Status ReadStep(Session& s, const LoopPlan& plan, const LoopHooks& hooks, InFlight* f, double* gloss,
                bool* stop) {
  const Clock& clock = *hooks.clock;
  const double t0 = clock.Seconds();
  if (f->ready) {
    f->ready->synchronize();
    f->agg = {f->loss_host.item<double>(), hooks.stop && hooks.stop->load() ? 1.0 : 0.0};
    f->times.compute_s += clock.Seconds() - t0;
  }
  const double t1 = clock.Seconds();
  if (!f->work)
    f->work = s.world->AllReduceAsync(f->agg.data(), f->agg.size(), DType::kFloat64, ReduceOp::kSum);
  DRIFTRUN_RETURN_IF_ERROR(f->work->Wait());
  f->times.allreduce_s += clock.Seconds() - t1;
  *gloss = f->agg[0] / plan.loss_denom;
  *stop = f->agg[1] > 0;
  if (!std::isfinite(*gloss)) {
    if (hooks.report) hooks.report->NonFiniteLoss(f->step + 1, f->epoch);  // 1-based, as the message
    return Status::Training("training loss is " + std::string(std::isnan(*gloss) ? "NaN" : "Inf") +
                            " at step " + std::to_string(f->step + 1) + " (epoch " +
                            std::to_string(f->epoch + 1) +
                            "); no checkpoint of this state was written. Lower train.lr, set "
                            "train.grad_clip, or check the data for extreme values");
  }
  return Status::Ok();
}

void MaybeFireFault(const Session& s, const FaultInjection& f, int64_t step) {
  const int rank = f.rank >= 0 ? f.rank : s.world->size() - 1;
  if (s.world->rank() != rank) return;
  if (step == f.sleep_at_step) std::this_thread::sleep_for(std::chrono::duration<double>(f.sleep_s));
  if (step != f.signal_at_step) return;
  if (f.fire) {
    f.fire();
  } else {
    std::raise(SIGTERM);
  }
}

// Validation and the metrics row at an epoch's end (or the run's last step).
Status EndOfEpoch(Session& s, const LoopPlan& plan, const LoopHooks& hooks, LoopState* st, int64_t steps_run,
                  const StepTimes& times, double secs, bool complete) {
  const Clock& clock = *hooks.clock;
  DRIFTRUN_ASSIGN_OR_RETURN(st->last_eval, Evaluate(s));
  // A model whose held-out loss is not finite must not be saved as done,
  // exported or registered (the training loss can stay finite while the
  // weights overflow).
  if (s.val_count > 0 && !std::isfinite(st->last_eval.loss)) {
    if (hooks.report) hooks.report->NonFiniteLoss(st->at.step, st->at.epoch);
    return Status::Training(
        "validation loss is " + std::string(std::isnan(st->last_eval.loss) ? "NaN" : "Inf") + " after step " +
        std::to_string(st->at.step) + " (epoch " + std::to_string(st->at.epoch + 1) +
        "): the weights overflowed; no checkpoint of this state was written. Lower train.lr, "
        "set train.grad_clip, or check the data for extreme values");
  }
  EpochReport e;
  e.epoch = st->at.epoch;
  e.epochs = plan.epochs;
  e.step = st->at.step;
  e.train_loss = st->at.epoch_loss_steps ? st->at.epoch_loss_sum / st->at.epoch_loss_steps : 0.0;
  e.val_loss = st->last_eval.loss;
  e.val_metric = st->last_eval.metric;
  e.metric_name = s.o.train.classification ? "accuracy" : "rmse";
  e.samples_per_s = steps_run * s.o.batch_size / std::max(1e-9, secs);
  e.step_ms = StepMs(times, steps_run, secs);
  e.lr = LearningRate(s.o.schedule, std::max<int64_t>(0, st->at.step - 1), plan.total_steps);
  e.wall_s = clock.Seconds() - hooks.start_s;
  e.partial = !complete;
  if (complete) st->last_epoch_train_loss = e.train_loss;
  Status written = hooks.report ? hooks.report->Epoch(e) : Status::Ok();
  return AgreeStatus(*s.world, written);
}

// After a step is read: the step event, the progress bar and TrainRequest::on_step.
// `done` is the steps done including it; `batch` the batches of its epoch done.
void ReportStep(const Session& s, const LoopPlan& plan, const LoopHooks& hooks, const LoopPosition& at,
                const InFlight& f, double gloss, double step_s, double samples_per_s) {
  const int64_t done = f.step + 1;
  if (hooks.report) {
    hooks.report->Step(done, f.epoch, gloss, LearningRate(s.o.schedule, f.step, plan.total_steps));
    hooks.report->Progress(f.epoch, plan.epochs, f.batch + 1, plan.batches,
                           at.epoch_loss_sum / at.epoch_loss_steps, samples_per_s);
  }
  if (!hooks.on_step) return;
  StepProgress p;
  p.step = done;
  p.total_steps = plan.total_steps;
  p.epoch = f.epoch;
  p.loss = gloss;
  p.step_s = step_s;
  p.allreduce_s = f.times.allreduce_s;
  p.compute_s = f.times.compute_s;
  p.optimizer_s = f.times.optimizer_s;
  p.samples_per_s = samples_per_s;
  hooks.on_step(p);
}

bool CheckpointDue(const TrainOptions& o, const LoopPlan& plan, int64_t step) {
  return o.checkpoint_every > 0 && step % o.checkpoint_every == 0 && step < plan.total_steps;
}

// Whether an injected fault (a signal or a sleep) fires at `step`.
bool FaultAt(const FaultInjection& fault, int64_t step) {
  return step == fault.signal_at_step || step == fault.sleep_at_step;
}

// The batches of the epoch at `at`: streamed in chunks, or from the rows held.
BatchSource EpochBatches(Session& s, const LoopPosition& at) {
  if (!s.streamer)
    return HeldBatches(s, EpochOrder(s.train_rows, s.o.seed, at.epoch, s.o.shuffle), at.next_batch);
  s.streamer->StartEpoch(at.epoch);
  return [&s](int64_t b, torch::Tensor* x, torch::Tensor* y, torch::Tensor* rows) {
    return s.streamer->Batch(b, x, y, rows);
  };
}

// After an epoch's loop (complete, or cut short by max_steps or a stop): its
// metrics where it ended or training did, the position, the epoch checkpoint.
Status CloseEpoch(Session& s, const LoopPlan& plan, const LoopHooks& hooks, LoopState* st, int64_t b,
                  int64_t steps_this_epoch, const StepTimes& epoch_times, double secs) {
  LoopPosition& at = st->at;
  st->train_seconds += secs;
  const bool epoch_complete = b == plan.batches;
  if (epoch_complete || at.step >= plan.total_steps) {
    DRIFTRUN_RETURN_IF_ERROR(
        EndOfEpoch(s, plan, hooks, st, steps_this_epoch, epoch_times, secs, epoch_complete));
  }
  if (!epoch_complete) {
    at.next_batch = b;
    return Status::Ok();
  }
  ++at.epoch;
  at.next_batch = 0;
  at.epoch_loss_sum = 0;
  at.epoch_loss_steps = 0;
  if (!st->stopped && CheckpointDue(s.o, plan, at.step)) return hooks.save(at);
  return Status::Ok();
}

}  // namespace

StepMsReport StepMs(const StepTimes& t, int64_t steps, double secs) {
  StepMsReport r;
  if (steps <= 0) return r;
  const double k = 1000.0 / static_cast<double>(steps);
  r.steps = steps;
  r.total = secs * k;
  r.data = t.data_s * k;
  r.compute = t.compute_s * k;
  r.allreduce = t.allreduce_s * k;
  r.optimizer = t.optimizer_s * k;
  return r;
}

LoopPlan MakeLoopPlan(const Session& s) {
  const TrainOptions& o = s.o;
  LoopPlan p;
  p.batches = BatchesPerEpoch(static_cast<int64_t>(s.train_rows.size()), o.batch_size);
  p.total_steps = o.max_steps > 0 ? o.max_steps : o.epochs * p.batches;
  p.epochs = o.max_steps > 0 ? (o.max_steps + p.batches - 1) / p.batches : o.epochs;
  // The global batch's element count, so that summing the ranks' gradients gives
  // the global batch mean however its rows are split.
  p.loss_denom = static_cast<double>(o.batch_size) * (o.train.classification ? 1 : s.meta.label_dim);
  return p;
}

bool StepPipelined(const Session& s) {
  return s.step_pipeline < 0 ? s.device.is_cuda() : s.step_pipeline == 1;
}

Status RunStepLoop(Session& s, const LoopPlan& plan, const LoopHooks& hooks_in, LoopState* st) {
  LoopHooks hooks = hooks_in;
  if (!hooks.clock) hooks.clock = &SteadyClock();
  const Clock& clock = *hooks.clock;
  const TrainOptions& o = s.o;
  LoopPosition& at = st->at;
  const bool pipelined = StepPipelined(s);
  s.model->train();
  while (at.epoch < plan.epochs && at.step < plan.total_steps && !st->stopped) {
    const double te = clock.Seconds();
    const BatchSource batch = EpochBatches(s, at);
    int64_t steps_this_epoch = 0, steps_read = 0;
    StepTimes epoch_times;
    const int64_t first_batch = at.next_batch;
    int64_t b = first_batch;
    // Reads a launched step: its loss into the epoch's sum, its times, its reports.
    auto read = [&](InFlight* f) -> Status {
      double gloss = 0;
      bool stop = false;
      DRIFTRUN_RETURN_IF_ERROR(ReadStep(s, plan, hooks, f, &gloss, &stop));
      st->step_times.Add(f->times);
      epoch_times.Add(f->times);
      at.epoch_loss_sum += gloss;
      ++at.epoch_loss_steps;
      ++steps_read;
      if (stop) st->stopped = true;
      const double now = clock.Seconds();
      ReportStep(s, plan, hooks, at, *f, gloss, now - f->t_start,
                 steps_read * o.batch_size / std::max(1e-9, now - te));
      *f = InFlight();
      return Status::Ok();
    };
    InFlight prev;
    while (b < plan.batches && at.step < plan.total_steps) {
      s.world->set_step(at.step);
      s.grad_comm->set_step(at.step);
      MaybeFireFault(s, hooks.fault, at.step);
      InFlight cur;
      DRIFTRUN_RETURN_IF_ERROR(LaunchStep(s, plan, hooks, batch, b, at, &cur));
      ++at.step;
      ++st->steps_run;
      ++b;
      ++steps_this_epoch;
      at.samples_seen += static_cast<double>(o.batch_size);
      // With a step in flight the previous one is read now, while the device
      // works; before anything that needs the weights or the loss (verification,
      // checkpoints, the epoch's end, a stop) the launched step is read too, and
      // after an injected fault, so that it stops the step it stops unpipelined.
      if (prev.active()) DRIFTRUN_RETURN_IF_ERROR(read(&prev));
      const bool verify = o.verify_every > 0 && at.step % o.verify_every == 0;
      const bool save = b < plan.batches && CheckpointDue(o, plan, at.step);
      if (!pipelined || st->stopped || verify || save || b == plan.batches || at.step >= plan.total_steps ||
          FaultAt(hooks.fault, cur.step)) {
        DRIFTRUN_RETURN_IF_ERROR(read(&cur));
      } else {
        prev = std::move(cur);
      }
      if (verify) {
        DRIFTRUN_RETURN_IF_ERROR(VerifyReplicas(s, at.step));
        ++st->replica_checks;
      }
      if (st->stopped) break;
      // Mid-epoch interval checkpoints; one that falls on the epoch's end is
      // written after the epoch's metrics, below.
      if (save) {
        at.next_batch = b;
        DRIFTRUN_RETURN_IF_ERROR(hooks.save(at));
      }
    }
    DRIFTRUN_RETURN_IF_ERROR(
        CloseEpoch(s, plan, hooks, st, b, steps_this_epoch, epoch_times, clock.Seconds() - te));
  }
  return Status::Ok();
}

}  // namespace driftrun
