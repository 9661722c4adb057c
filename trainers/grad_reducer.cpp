#include "trainers/grad_reducer.h"

#include "trainers/bucketing.h"

namespace driftrun {
namespace {

DType ToDType(const torch::Tensor& t) {
  return t.scalar_type() == torch::kDouble ? DType::kFloat64 : DType::kFloat32;
}

}  // namespace

GradReducer::GradReducer(Communicator& comm, std::vector<torch::Tensor> params, size_t bucket_bytes)
    : comm_(comm), params_(std::move(params)) {
  std::vector<size_t> bytes;
  for (const auto& p : params_) bytes.push_back(p.numel() * p.element_size());
  buckets_ = AssignBuckets(bytes, bucket_bytes);
  bucket_of_.resize(params_.size());
  offset_.resize(params_.size());
  for (size_t b = 0; b < buckets_.size(); ++b) {
    int64_t off = 0;
    for (size_t p : buckets_[b]) {
      bucket_of_[p] = b;
      offset_[p] = off;
      off += params_[p].numel();
    }
    flat_.push_back(torch::zeros({off}, params_[buckets_[b][0]].options().requires_grad(false)));
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    params_[i].register_hook([this, i](const torch::Tensor& g) { OnGrad(i, g); });
  }
  work_.resize(buckets_.size());
  pending_.resize(buckets_.size());
  got_.resize(params_.size());
}

void GradReducer::Prepare() {
  for (size_t b = 0; b < buckets_.size(); ++b) pending_[b] = buckets_[b].size();
  std::fill(got_.begin(), got_.end(), false);
  for (auto& w : work_) w.reset();
  next_launch_ = 0;
  launched_in_backward_ = 0;
  in_backward_ = true;
}

void GradReducer::OnGrad(size_t param, const torch::Tensor& grad) {
  if (!in_backward_ || got_[param]) return;
  got_[param] = true;
  const size_t b = bucket_of_[param];
  flat_[b].narrow(0, offset_[param], grad.numel()).copy_(grad.reshape({-1}));
  --pending_[b];
  LaunchReady();
}

void GradReducer::LaunchReady() {
  while (next_launch_ < buckets_.size() && pending_[next_launch_] == 0) {
    torch::Tensor& f = flat_[next_launch_];
    work_[next_launch_] = comm_.AllReduceAsync(f.data_ptr(), f.numel(), ToDType(f), ReduceOp::kSum);
    if (in_backward_) ++launched_in_backward_;
    ++next_launch_;
  }
}

Status GradReducer::Finish() {
  torch::NoGradGuard no_grad;
  in_backward_ = false;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (got_[i]) continue;
    const size_t b = bucket_of_[i];
    flat_[b].narrow(0, offset_[i], params_[i].numel()).zero_();
    --pending_[b];
  }
  LaunchReady();
  Status first;
  for (auto& w : work_) {
    Status st = w ? w->Wait() : Status::Infra("gradient bucket was never reduced");
    if (first.ok() && !st.ok()) first = st;
  }
  DRIFTRUN_RETURN_IF_ERROR(first.WithContext("all-reducing gradients"));
  for (size_t i = 0; i < params_.size(); ++i) {
    torch::Tensor& p = params_[i];
    torch::Tensor sum = flat_[bucket_of_[i]].narrow(0, offset_[i], p.numel()).view(p.sizes());
    if (p.mutable_grad().defined()) {
      p.mutable_grad().copy_(sum);
    } else {
      p.mutable_grad() = sum.clone();
    }
  }
  return Status::Ok();
}

}  // namespace driftrun
