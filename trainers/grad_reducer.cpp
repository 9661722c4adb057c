#include "trainers/grad_reducer.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/utils/lambda_post_hook.h>

#include <chrono>

#include "trainers/bucketing.h"

namespace driftrun {

GradReducer::GradReducer(Communicator& comm, const FlatParams* flat, size_t bucket_bytes)
    : comm_(comm), flat_(flat) {
  const size_t n = flat_->size();
  std::vector<size_t> bytes;
  for (size_t i = 0; i < n; ++i) bytes.push_back(flat_->param(i).numel() * sizeof(float));
  buckets_ = AssignBuckets(bytes, bucket_bytes);
  bucket_of_.resize(n);
  for (size_t b = 0; b < buckets_.size(); ++b) {
    // Buckets hold parameters in reverse registration order, as the flat
    // buffer does: the last one listed starts the bucket's range.
    int64_t begin = flat_->offset(buckets_[b].back()), end = begin;
    for (size_t p : buckets_[b]) {
      bucket_of_[p] = b;
      begin = std::min(begin, flat_->offset(p));
      end = std::max(end, flat_->offset(p) + flat_->param(p).numel());
    }
    bucket_view_.push_back(flat_->grad().narrow(0, begin, end - begin));
  }
  for (size_t i = 0; i < n; ++i) {
    auto acc = torch::autograd::impl::grad_accumulator(flat_->param(i));
    hook_keys_.push_back(acc->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
        [this, i](const torch::autograd::variable_list& outputs, const torch::autograd::variable_list&) {
          OnGrad(i);
          return outputs;
        })));
    accumulators_.push_back(std::move(acc));
  }
  work_.resize(buckets_.size());
  pending_.resize(buckets_.size());
  got_.resize(n);
}

GradReducer::~GradReducer() {
  for (size_t i = 0; i < accumulators_.size(); ++i) accumulators_[i]->del_post_hook(hook_keys_[i]);
}

void GradReducer::Prepare() {
  for (size_t b = 0; b < buckets_.size(); ++b) pending_[b] = buckets_[b].size();
  std::fill(got_.begin(), got_.end(), false);
  for (auto& w : work_) w.reset();
  next_launch_ = 0;
  launched_in_backward_ = 0;
  in_backward_ = true;
}

void GradReducer::OnGrad(size_t param) {
  if (!in_backward_ || got_[param]) return;
  got_[param] = true;
  --pending_[bucket_of_[param]];
  LaunchReady();
}

void GradReducer::LaunchReady() {
  while (next_launch_ < buckets_.size() && pending_[next_launch_] == 0) {
    torch::Tensor& f = bucket_view_[next_launch_];
    work_[next_launch_] = comm_.AllReduceAsync(f.data_ptr(), f.numel(), DType::kFloat32, ReduceOp::kSum);
    if (in_backward_) ++launched_in_backward_;
    ++next_launch_;
  }
}

Status GradReducer::Finish() {
  in_backward_ = false;
  for (size_t i = 0; i < got_.size(); ++i) {
    if (got_[i]) continue;
    got_[i] = true;  // its gradient stays the zeros of ZeroGrad
    --pending_[bucket_of_[i]];
  }
  LaunchReady();
  const auto t0 = std::chrono::steady_clock::now();
  Status first;
  for (auto& w : work_) {
    Status st = w ? w->Wait() : Status::Infra("gradient bucket was never reduced");
    if (first.ok() && !st.ok()) first = st;
  }
  last_wait_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return first.WithContext("all-reducing gradients");
}

}  // namespace driftrun
