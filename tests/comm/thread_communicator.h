// ThreadCommunicator: a group of ranks that are threads of one process, for
// testing distributed logic without MPI (like XGBoost's TestDistributed).
// Collectives are synchronous; AllReduceAsync completes before it returns.
#pragma once

#include <condition_variable>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "comm/communicator.h"

namespace driftrun {

class ThreadGroup {
 public:
  explicit ThreadGroup(int size) : size_(size), bufs_(size) {}
  int size() const { return size_; }
  void Barrier() {
    std::unique_lock<std::mutex> lock(mu_);
    uint64_t gen = generation_;
    if (++arrived_ == size_) {
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return generation_ != gen; });
    }
  }
  std::vector<void*>& bufs() { return bufs_; }

 private:
  int size_;
  std::mutex mu_;
  std::condition_variable cv_;
  int arrived_ = 0;
  uint64_t generation_ = 0;
  std::vector<void*> bufs_;
};

class ThreadCommunicator : public Communicator {
 public:
  ThreadCommunicator(ThreadGroup* g, int rank) : g_(g), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return g_->size(); }
  std::string name() const override { return "threads"; }

  Status AllReduce(void* buf, size_t count, DType dtype, ReduceOp op) override {
    g_->bufs()[rank_] = buf;
    g_->Barrier();
    std::vector<char> result(count * DTypeSize(dtype));
    for (size_t i = 0; i < count; ++i) Reduce(dtype, op, i, result.data());
    g_->Barrier();  // everyone has read the inputs
    std::memcpy(buf, result.data(), result.size());
    g_->Barrier();
    return Status::Ok();
  }
  std::unique_ptr<Work> AllReduceAsync(void* buf, size_t count, DType dtype, ReduceOp op) override {
    ++async_calls;
    return std::make_unique<DoneWork>(AllReduce(buf, count, dtype, op));
  }
  Status Broadcast(void* buf, size_t count, DType dtype, int root) override {
    g_->bufs()[rank_] = buf;
    g_->Barrier();
    if (rank_ != root) std::memcpy(buf, g_->bufs()[root], count * DTypeSize(dtype));
    g_->Barrier();
    return Status::Ok();
  }
  Status Barrier() override {
    g_->Barrier();
    return Status::Ok();
  }
  int async_calls = 0;

 private:
  template <typename T>
  static T Apply(ReduceOp op, T a, T b) {
    return op == ReduceOp::kSum ? a + b : op == ReduceOp::kMax ? std::max(a, b) : std::min(a, b);
  }
  void Reduce(DType dtype, ReduceOp op, size_t i, char* out) {
    auto run = [&](auto zero) {
      using T = decltype(zero);
      T acc = static_cast<const T*>(g_->bufs()[0])[i];
      for (int r = 1; r < size(); ++r) acc = Apply(op, acc, static_cast<const T*>(g_->bufs()[r])[i]);
      reinterpret_cast<T*>(out)[i] = acc;
    };
    switch (dtype) {
      case DType::kFloat32: run(float{}); break;
      case DType::kFloat64: run(double{}); break;
      case DType::kInt64: run(int64_t{}); break;
      case DType::kUInt8: run(uint8_t{}); break;
    }
  }
  ThreadGroup* g_;
  int rank_;
};

// Runs fn(comm) on `world` threads, one rank each, and joins them.
inline void RunRanks(int world, const std::function<void(ThreadCommunicator&)>& fn) {
  ThreadGroup group(world);
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      ThreadCommunicator comm(&group, r);
      fn(comm);
    });
  }
  for (auto& t : threads) t.join();
}

}  // namespace driftrun
