#include "trainers/shared_step.h"

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <vector>

namespace driftrun {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// A float32 tensor over `n` elements of shared memory; it keeps the mapping
// alive as long as it (or a view of it) exists.
torch::Tensor View(const std::shared_ptr<SharedMemory>& mem, int rank, int64_t offset, int64_t n) {
  float* p = static_cast<float*>(mem->part(rank)) + offset;
  return torch::from_blob(
      p, {n}, [mem](void*) {}, torch::TensorOptions().dtype(torch::kFloat));
}

}  // namespace

Result<std::unique_ptr<SharedStep>> SharedStep::Make(Communicator& comm, FlatParams* flat, Optimizer* optim,
                                                     std::string* why_not) {
  const int W = comm.size();
  const int64_t n = flat->numel();
  const std::vector<const char*> slots = optim->Slots();
  // Every part: that rank's gradients, then its updated parameters (only its
  // range is written); rank 0's part also holds each optimizer slot.
  std::vector<size_t> bytes(W, 2 * n * sizeof(float));
  bytes[0] += slots.size() * n * sizeof(float);
  DRIFTRUN_ASSIGN_OR_RETURN(std::unique_ptr<SharedMemory> m, SharedMemory::Map(comm, bytes, why_not));
  if (!m) return std::unique_ptr<SharedStep>();
  std::shared_ptr<SharedMemory> mem(std::move(m));
  const bool first = comm.rank() == 0;
  flat->MoveGradTo(View(mem, comm.rank(), 0, n));
  std::map<std::string, torch::Tensor> to;
  int64_t at = 2 * n;
  for (const char* slot : slots) {
    to[slot] = View(mem, 0, at, n);
    at += n;
  }
  optim->MoveStateTo(to, first);
  auto step = std::unique_ptr<SharedStep>(new SharedStep(comm, flat, optim, mem));
  DRIFTRUN_RETURN_IF_ERROR(step->Barrier());  // rank 0's state is in place
  return step;
}

SharedStep::SharedStep(Communicator& comm, FlatParams* flat, Optimizer* optim,
                       std::shared_ptr<SharedMemory> mem)
    : comm_(comm), flat_(flat), optim_(optim), mem_(std::move(mem)) {
  const int W = comm_.size();
  for (int r = 0; r < W; ++r) {
    grads_.push_back(static_cast<const float*>(mem_->part(r)));
    params_.push_back(static_cast<float*>(mem_->part(r)) + flat_->numel());
  }
  // Ranges of whole 64-byte lines, so no two ranks write one cache line.
  const int64_t lines = (flat_->numel() + FlatParams::kAlign - 1) / FlatParams::kAlign;
  const int64_t r = comm_.rank();
  for (int64_t q = 0; q <= W; ++q)
    bounds_.push_back(std::min(flat_->numel(), lines * q / W * FlatParams::kAlign));
  begin_ = bounds_[r];
  end_ = bounds_[r + 1];
  sum_ = torch::zeros({flat_->numel()}, torch::kFloat);  // the gaps stay zero
}

Status SharedStep::Barrier() {
  // The barrier's messages order the plain stores around it on x86; the
  // fences make that hold on weaker memory models too.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  Status st = comm_.Barrier();
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return st;
}

void SharedStep::Clip(double max_norm) {
  // torch::nn::utils::clip_grad_norm_'s arithmetic, on the views of the sum.
  std::vector<torch::Tensor> norms;
  for (size_t i = 0; i < flat_->size(); ++i) norms.push_back(flat_->View(sum_, i).norm(2.0));
  torch::Tensor total = norms.size() == 1 ? norms[0] : torch::stack(norms).norm(2.0);
  torch::Tensor coef = torch::clamp(max_norm / (total + 1e-6), std::nullopt, 1.0);
  sum_.narrow(0, begin_, end_ - begin_).mul_(coef);
}

Status SharedStep::Step(double lr, double grad_clip, double* sync_s) {
  const double t0 = Now();
  DRIFTRUN_RETURN_IF_ERROR(Barrier().WithContext("waiting for every rank's gradients (shared-memory step, " +
                                                 std::to_string(flat_->numel()) + " float32)"));
  // ((g0 + g1) + g2) + ..., one vectorisable pass per further rank.
  const int64_t b = grad_clip > 0 ? 0 : begin_, e = grad_clip > 0 ? flat_->numel() : end_;
  float* sum = sum_.data_ptr<float>();
  for (size_t q = 1; q < grads_.size(); ++q) {
    const float* x = q == 1 ? grads_[0] : sum;
    const float* y = grads_[q];
    for (int64_t i = b; i < e; ++i) sum[i] = x[i] + y[i];
  }
  const double t1 = Now();
  if (grad_clip > 0) Clip(grad_clip);
  optim_->StepRange(lr, begin_, end_, sum + begin_);
  const double t2 = Now();
  // Publish this range, then take every other rank's.
  float* p = flat_->data().data_ptr<float>();
  const int me = comm_.rank();
  std::memcpy(params_[me] + begin_, p + begin_, (end_ - begin_) * sizeof(float));
  DRIFTRUN_RETURN_IF_ERROR(Barrier().WithContext("waiting for every rank's optimizer step"));
  for (size_t q = 0; q < params_.size(); ++q) {
    if (static_cast<int>(q) == me) continue;
    std::memcpy(p + bounds_[q], params_[q] + bounds_[q], (bounds_[q + 1] - bounds_[q]) * sizeof(float));
  }
  *sync_s = (t1 - t0) + (Now() - t2);
  return Status::Ok();
}

}  // namespace driftrun
