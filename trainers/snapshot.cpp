// Model and optimizer state of a training session to and from checkpoints, and
// the checks that keep the replicas of all ranks identical.
#include "comm/collectives.h"
#include "trainers/train_session.h"

namespace driftrun {
namespace {

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

}  // namespace

Status LoadModelState(Session& s, const CheckpointState& ck) {
  DRIFTRUN_RETURN_IF_ERROR(LoadParameters(*s.model, ck.model));
  std::map<std::string, torch::Tensor> opt;
  for (const auto& a : ck.optim) opt[a.name] = FromArray(a);
  return s.optim->LoadState(opt, ck.step);
}

Status BroadcastParams(Session& s) {
  const torch::Tensor& t = s.flat->data();  // every parameter, in one message
  return s.grad_comm->Broadcast(t.data_ptr(), t.numel(), DType::kFloat32, 0);
}

CheckpointState Snapshot(const Session& s, const LoopPosition& at, const std::string& config_hash) {
  CheckpointState c;
  c.step = at.step;
  c.epoch = at.epoch;
  c.next_batch = at.next_batch;
  c.world_size = s.world->size();
  c.classes = s.fit.classes;
  c.in_dim = s.meta.dim;
  c.out_dim = s.o.train.classification ? s.fit.classes : s.meta.label_dim;
  c.epoch_loss_sum = at.epoch_loss_sum;
  c.epoch_loss_steps = at.epoch_loss_steps;
  c.samples_seen = at.samples_seen;
  c.stream_chunk_rows = s.stream.chunk_rows;
  c.stream_window_chunks = s.stream.window_chunks;
  c.train_rows = static_cast<int64_t>(s.train_rows.size());
  c.train_sample = s.train_sample;
  c.config_hash = config_hash;
  c.task = s.o.train.classification ? "classification" : "regression";
  c.model_spec = s.spec.ToJson();
  for (const auto& p : s.model->named_parameters()) c.model.push_back(ToArray(p.key(), p.value()));
  for (const auto& [k, v] : s.optim->State()) c.optim.push_back(ToArray(k, v));
  c.pre = s.fit.pre;
  return c;
}

// A 62-bit FNV-1a hash of the parameter bytes, min and max over ranks in one
// all-reduce.
Status VerifyReplicas(Session& s, int64_t step) {
  uint64_t h = 1469598103934665603ULL;
  const torch::Tensor c = s.flat->data().to(torch::kCPU);
  const auto* bytes = static_cast<const uint8_t*>(c.data_ptr());
  for (size_t i = 0; i < static_cast<size_t>(c.nbytes()); ++i) h = (h ^ bytes[i]) * 1099511628211ULL;
  int64_t v[2] = {static_cast<int64_t>(h >> 2), -static_cast<int64_t>(h >> 2)};
  DRIFTRUN_RETURN_IF_ERROR(s.world->AllReduce(v, 2, DType::kInt64, ReduceOp::kMax));
  if (v[0] != -v[1]) {
    return Status::Infra("replicas diverged after step " + std::to_string(step) +
                         ": ranks hold different weights. Check that every rank runs the same build "
                         "and that the gradient all-reduce is healthy");
  }
  return Status::Ok();
}

}  // namespace driftrun
