#include "trainers/shard_stream.h"

#include <algorithm>

#include "trainers/train_session.h"

namespace driftrun {

ShardStream::ShardStream(Session& s) : s_(s) {}

ShardStream::~ShardStream() {
  Quiesce();
}

void ShardStream::StartEpoch(int64_t epoch) {
  if (first_epoch_ < 0) first_epoch_ = epoch;
  // The read of this epoch's first window may be under way already.
  if (next_ew_ && next_ew_->epoch() == epoch) {
    ew_ = next_ew_;
  } else {
    ew_ = std::make_shared<EpochWindows>(static_cast<int64_t>(s_.train_rows.size()), s_.stream, s_.o.seed,
                                         epoch, s_.o.shuffle);
  }
  next_ew_ = nullptr;
  cur_ = Window();
}

void ShardStream::Quiesce() {
  if (!reading_) return;
  next_ = pending_.get();
  reading_ = false;
}

int64_t ShardStream::held_rows() const {
  return (cur_.x.defined() ? cur_.x.size(0) : 0) + (next_.x.defined() ? next_.x.size(0) : 0);
}

void ShardStream::Prefetch(const Order& ew, int64_t w) {
  Quiesce();
  reading_ = true;
  pending_epoch_ = ew->epoch();
  pending_w_ = w;
  pending_ = std::async(std::launch::async, [this, ew, w] { return Load(ew, w); });
}

ShardStream::Window ShardStream::Load(const Order& ew, int64_t w) const {
  Window out;
  out.epoch = ew->epoch();
  out.w = w;
  const std::vector<int64_t>& train = s_.train_rows;
  const int64_t n = static_cast<int64_t>(train.size()), C = s_.stream.chunk_rows;
  std::vector<int64_t> chunks = ew->Chunks(w);
  std::sort(chunks.begin(), chunks.end());  // ascending file rows
  TabularRows rows;
  std::vector<int64_t> file_rows;
  const int64_t dim = s_.meta.dim, ldim = s_.meta.label_dim;
  for (int64_t c : chunks) {
    const int64_t first = c * C, last = std::min(n, first + C);
    const int64_t lo = std::max(train[first], s_.shard_begin),
                  hi = std::min(train[last - 1] + 1, s_.shard_end);
    if (lo >= hi) continue;
    TabularRows part;
    out.status = ReadTrainRows(s_, lo, hi - lo, &part);
    if (!out.status.ok()) return out;
    // The training rows in [lo, hi) are exactly chunk c's rows of this shard.
    KeepRows(part, lo, train, dim, ldim, &rows);
    file_rows.insert(file_rows.end(), std::lower_bound(train.begin(), train.end(), lo),
                     std::lower_bound(train.begin(), train.end(), hi));
  }
  torch::Tensor raw = torch::from_blob(rows.x.data(), {rows.rows, dim}, torch::kFloat);
  auto x = ApplyPreprocessor(s_.fit.pre, raw, &out.counts);
  if (!x.ok()) {
    out.status = x.status();
    return out;
  }
  out.x = x.take();
  out.y = s_.o.train.classification
              ? torch::from_blob(rows.cls.data(), {rows.rows}, torch::kLong).clone()
              : torch::from_blob(rows.y.data(), {rows.rows, ldim}, torch::kFloat).clone();
  out.rows = torch::from_blob(file_rows.data(), {rows.rows}, torch::kLong).clone();
  // Where each position of the window's order is in x (file rows are sorted).
  const std::vector<int64_t> order = ew->Order(w);
  out.local.resize(order.size(), -1);
  for (size_t k = 0; k < order.size(); ++k) {
    const int64_t r = train[order[k]];
    if (r < s_.shard_begin || r >= s_.shard_end) continue;
    out.local[k] =
        static_cast<int32_t>(std::lower_bound(file_rows.begin(), file_rows.end(), r) - file_rows.begin());
  }
  return out;
}

Status ShardStream::Ensure(int64_t w) {
  if (!Holds(cur_, w)) {
    if (reading_ && pending_epoch_ == ew_->epoch() && pending_w_ == w) Quiesce();
    if (Holds(next_, w)) {
      cur_ = std::move(next_);
      next_ = Window();
    } else {
      Quiesce();
      cur_ = Load(ew_, w);
    }
    DRIFTRUN_RETURN_IF_ERROR(cur_.status.WithContext("reading the training data"));
    if (cur_.epoch == first_epoch_) s_.pre_counts.Add(cur_.counts, cur_.x.size(0));
    if (s_.device != torch::kCPU) {
      cur_.x = cur_.x.to(s_.device);
      cur_.y = cur_.y.to(s_.device);
    }
  }
  // Read ahead: the next window, or the next epoch's first.
  Order ahead = ew_;
  int64_t aw = w + 1;
  if (aw == ew_->windows()) {
    if (!next_ew_) {
      next_ew_ = std::make_shared<EpochWindows>(static_cast<int64_t>(s_.train_rows.size()), s_.stream,
                                                s_.o.seed, ew_->epoch() + 1, s_.o.shuffle);
    }
    ahead = next_ew_;
    aw = 0;
  }
  const bool have = next_.epoch == ahead->epoch() && next_.w == aw;
  const bool asked = reading_ && pending_epoch_ == ahead->epoch() && pending_w_ == aw;
  if (!have && !asked) Prefetch(ahead, aw);
  return Status::Ok();
}

Status ShardStream::Batch(int64_t b, torch::Tensor* x, torch::Tensor* y, torch::Tensor* file_rows) {
  const int64_t B = s_.o.batch_size, p0 = b * B, p1 = p0 + B;
  const int64_t w0 = ew_->WindowOf(p0), w1 = ew_->WindowOf(p1 - 1);
  DRIFTRUN_RETURN_IF_ERROR(Ensure(w0));
  if (w1 != w0) {  // the batch straddles into the next window (windows hold at least one batch)
    Quiesce();
    if (!Holds(next_, w1)) next_ = Load(ew_, w1);
    DRIFTRUN_RETURN_IF_ERROR(next_.status.WithContext("reading the training data"));
    if (s_.device != torch::kCPU && next_.x.device() != s_.device) {
      next_.x = next_.x.to(s_.device);
      next_.y = next_.y.to(s_.device);
    }
  }
  std::vector<torch::Tensor> xs, ys, rs;
  for (const Window* win : {&cur_, w1 != w0 ? &next_ : nullptr}) {
    if (!win) continue;
    const int64_t begin = ew_->begin(win->w), end = ew_->begin(win->w + 1);
    std::vector<int64_t> idx;
    for (int64_t p = std::max(p0, begin); p < std::min(p1, end); ++p) {
      const int32_t k = win->local[p - begin];
      if (k >= 0) idx.push_back(k);
    }
    torch::Tensor i = torch::from_blob(idx.data(), {static_cast<int64_t>(idx.size())}, torch::kLong).clone();
    if (file_rows) rs.push_back(win->rows.index_select(0, i));
    i = i.to(s_.device);
    xs.push_back(win->x.index_select(0, i));
    ys.push_back(win->y.index_select(0, i));
  }
  *x = xs.size() == 1 ? xs[0] : torch::cat(xs);
  *y = ys.size() == 1 ? ys[0] : torch::cat(ys);
  if (file_rows) *file_rows = (rs.size() == 1 ? rs[0] : torch::cat(rs)).to(s_.device);
  return Status::Ok();
}

}  // namespace driftrun
