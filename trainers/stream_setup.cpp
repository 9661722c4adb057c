// Set-up when ranks stream their shards (data.memory_mb): the decision, and the
// passes over the shard that the held mode does on rows in memory.
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "comm/collectives.h"
#include "trainers/train_session.h"

namespace driftrun {
namespace {

// A quarter of this machine's memory.
double DefaultMemoryMb() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return 4096;
  return static_cast<double>(pages) * static_cast<double>(page) / (1024.0 * 1024.0) / 4;
}

// Bytes one training row costs while held: raw float32 features and labels as
// read, and the preprocessed features.
int64_t RowBytes(const Session& s) {
  const int64_t label = s.o.train.classification ? 8 : 4 * s.meta.label_dim;
  return s.meta.dim * 4 + label + s.meta.dim * (s.o.preprocess.bf16 ? 2 : 4);
}

std::string Mb(double bytes) {
  return std::to_string(static_cast<int64_t>(std::ceil(bytes / (1024.0 * 1024.0)))) + " MB";
}

}  // namespace

Status PlanDataMode(Session& s, const CheckpointState* resume_from) {
  std::vector<double> budget = {s.o.memory_mb > 0 ? s.o.memory_mb : DefaultMemoryMb()};
  DRIFTRUN_RETURN_IF_ERROR(AllReduceDoubles(*s.world, &budget, ReduceOp::kMin));
  s.memory_mb = budget[0];
  s.data_bytes = static_cast<int64_t>(s.train_rows.size()) * RowBytes(s);
  if (resume_from) {  // the run's order, whatever the budget says now
    s.stream = {resume_from->stream_chunk_rows, resume_from->stream_window_chunks};
  } else if (static_cast<double>(s.data_bytes) > s.memory_mb * 1024 * 1024) {
    s.stream = StreamOrderFor(s.memory_mb, RowBytes(s), s.o.stream_chunk_rows);
    // A batch spans at most two windows.
    s.stream.window_chunks =
        std::max(s.stream.window_chunks, (s.o.batch_size + s.stream.chunk_rows - 1) / s.stream.chunk_rows);
  }
  if (s.stream.chunk_rows > 0 && s.o.train.text) {
    return Status::Usage(
        "the training data (" + Mb(static_cast<double>(s.data_bytes)) + ") is larger than " +
        "data.memory_mb (" + Mb(s.memory_mb * 1024 * 1024) +
        ") and streaming reads tabular and image features only, not text; raise data.memory_mb");
  }
  if (s.stream.chunk_rows > 0) s.streamer = std::make_unique<ShardStream>(s);
  return Status::Ok();
}

// Calls `visit` with consecutive pieces of this rank's shard, each of at most
// a window's rows, and the file row of each piece's first row.
Status ForEachShardPiece(Session& s, const std::function<Status(TabularRows& part, int64_t first)>& visit) {
  const int64_t step = std::max<int64_t>(1, s.stream.window_rows());
  for (int64_t b = s.shard_begin; b < s.shard_end; b += step) {
    TabularRows part;
    const int64_t n = std::min(step, s.shard_end - b);
    DRIFTRUN_RETURN_IF_ERROR(s.train_set->ReadRange(b, n, s.o.train.classification ? s.o.classes : 0, &part));
    DRIFTRUN_RETURN_IF_ERROR(visit(part, b));
  }
  return Status::Ok();
}

// Keeps the rows of `part` (starting at file row `first`) that `rows` (sorted,
// global) lists.
void KeepRows(const TabularRows& part, int64_t first, const std::vector<int64_t>& rows, int64_t dim,
              int64_t ldim, TabularRows* out) {
  auto lo = std::lower_bound(rows.begin(), rows.end(), first);
  auto hi = std::lower_bound(rows.begin(), rows.end(), first + part.rows);
  for (auto it = lo; it != hi; ++it) {
    const int64_t k = *it - first;
    out->x.insert(out->x.end(), part.x.begin() + k * dim, part.x.begin() + (k + 1) * dim);
    if (!part.cls.empty()) out->cls.push_back(part.cls[k]);
    if (!part.y.empty())
      out->y.insert(out->y.end(), part.y.begin() + k * ldim, part.y.begin() + (k + 1) * ldim);
    ++out->rows;
  }
}

Status ReadShardStreaming(Session& s) {
  // Only the held-out rows stay; the training rows are read as they train.
  return ForEachShardPiece(s, [&](TabularRows& part, int64_t first) {
    KeepRows(part, first, s.val_rows, s.meta.dim, s.meta.label_dim, &s.shard);
    return Status::Ok();
  });
}

Result<FitResult> FitStreaming(Session& s) {
  int64_t top = -1;
  ChunkPass pass = [&](const ChunkVisitor& visit) {
    return ForEachShardPiece(s, [&](TabularRows& part, int64_t first) -> Status {
      TabularRows tr;
      KeepRows(part, first, s.train_rows, s.meta.dim, s.meta.label_dim, &tr);
      for (int64_t c : tr.cls) top = std::max(top, c);
      if (tr.rows == 0) return Status::Ok();
      return visit(torch::from_blob(tr.x.data(), {tr.rows, s.meta.dim}, torch::kFloat));
    });
  };
  DRIFTRUN_ASSIGN_OR_RETURN(FitResult r,
                            FitPreprocessorChunked(*s.world, pass, {}, s.o.train, s.meta, s.o.preprocess));
  DRIFTRUN_RETURN_IF_ERROR(s.world->AllReduce(&top, 1, DType::kInt64, ReduceOp::kMax));
  if (s.o.train.classification) r.classes = top + 1;
  return r;
}

}  // namespace driftrun
