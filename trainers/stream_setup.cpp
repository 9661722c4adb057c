// Set-up when ranks stream their shards (data.memory_mb): the decision, and the
// passes over the shard that the held mode does on rows in memory.
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include <cstdio>
#include <cstdlib>

#include "comm/collectives.h"
#include "common/file_util.h"
#include "common/sha256.h"
#include "trainers/train_session.h"

namespace driftrun {
namespace {

// The memory limit of this process's cgroup (v2, then v1), or 0 when none.
double CgroupLimitBytes() {
  for (const char* f : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    auto text = ReadFile(f, 64);
    if (!text.ok()) continue;
    char* end = nullptr;
    const double v = std::strtod(text.value().c_str(), &end);
    // "max", or v1's "no limit" (a page-rounded 2^63).
    if (end != text.value().c_str() && v > 0 && v < 4e18) return v;
  }
  return 0;
}

// A quarter of this machine's memory, or of the cgroup's (a container) when
// that is smaller.
double DefaultMemoryMb() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  double bytes = pages > 0 && page > 0 ? static_cast<double>(pages) * static_cast<double>(page) : 16e9;
  const double limit = CgroupLimitBytes();
  if (limit > 0) bytes = std::min(bytes, limit);
  return bytes / (1024.0 * 1024.0) / 4;
}

// Bytes one row costs while held: raw float32 features and labels as read,
// and the preprocessed features; for text, the hashed ids and the string
// (at least its 32-byte header).
int64_t RowBytes(const Session& s) {
  const int64_t label = s.o.train.classification ? 8 : 4 * s.meta.label_dim;
  if (s.o.train.text) return label + 8 * s.o.ngrams.max_ids + 32;
  return s.meta.dim * 4 + label + s.meta.dim * (s.o.preprocess.bf16 ? 2 : 4);
}

// Megabytes with one decimal (two below 10 MB), so that a comparison in a
// message never reads "1 MB is larger than 1 MB".
std::string Mb(double bytes) {
  const double mb = bytes / (1024.0 * 1024.0);
  char buf[64];
  std::snprintf(buf, sizeof(buf), mb < 10 ? "%.3g MB" : "%.1f MB", mb);
  return buf;
}

// A rank holds its share of two windows when streaming (the one training and
// the one read ahead), else of the training set, and of the held-out rows. A
// warning when that is more than the budget (a window never holds less than a
// batch or a chunk; held-out rows are held in both modes).
void WarnOverBudget(Session& s) {
  const double budget = s.memory_mb * 1024 * 1024, world = s.world->size();
  const double val = static_cast<double>(s.val_count) * static_cast<double>(RowBytes(s)) / world;
  // A window never holds more rows than the data has (a chunk may be larger).
  const int64_t window = std::min<int64_t>(s.stream.window_rows(), static_cast<int64_t>(s.train_rows.size()));
  const double held =
      (s.stream.chunk_rows > 0 ? 2.0 * static_cast<double>(window) * static_cast<double>(RowBytes(s))
                               : static_cast<double>(s.data_bytes)) /
      world;
  if (held + val <= budget) return;
  std::string what = s.stream.chunk_rows > 0
                         ? "two streamed windows of " + std::to_string(window) + " rows (" + Mb(held) +
                               "; a window holds at least a batch and a chunk)"
                         : "the training rows (" + Mb(held) + ")";
  std::string fix =
      s.stream.chunk_rows > 0 ? "lower data.stream_chunk_rows or train.batch_size, or raise " : "raise ";
  s.data_warnings.push_back("a rank holds its share of " + what + " and of " + std::to_string(s.val_count) +
                            " held-out rows (" + Mb(val) + "), more than data.memory_mb (" + Mb(budget) +
                            "); " + fix + "data.memory_mb");
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
  WarnOverBudget(s);
  return Status::Ok();
}

Status ReadTrainRows(const Session& s, int64_t begin, int64_t count, TabularRows* out) {
  return s.train_set->ReadRange(begin, count, s.o.train.classification ? s.o.classes : 0, out);
}

Result<std::string> TrainDataSample(const Session& s) {
  constexpr int64_t kSample = 64;
  const auto n = static_cast<int64_t>(s.train_rows.size());
  Sha256 h;
  h.Update(&n, sizeof(n));
  for (int64_t k = 0; k < std::min(n, kSample); ++k) {
    const int64_t row = s.train_rows[static_cast<size_t>(k * n / std::min(n, kSample))];
    TabularRows r;
    DRIFTRUN_RETURN_IF_ERROR(ReadTrainRows(s, row, 1, &r));
    h.Update(r.x.data(), r.x.size() * sizeof(float));
    h.Update(r.y.data(), r.y.size() * sizeof(float));
    h.Update(r.cls.data(), r.cls.size() * sizeof(int64_t));
    for (const std::string& t : r.text) h.Update(t.data(), t.size() + 1);  // with the terminator
  }
  return h.HexDigest();
}

// Calls `visit` with consecutive pieces of this rank's shard, each of at most
// a window's rows, and the file row of each piece's first row.
Status ForEachShardPiece(Session& s, const std::function<Status(TabularRows& part, int64_t first)>& visit) {
  const int64_t step = std::max<int64_t>(1, s.stream.window_rows());
  for (int64_t b = s.shard_begin; b < s.shard_end; b += step) {
    TabularRows part;
    const int64_t n = std::min(step, s.shard_end - b);
    DRIFTRUN_RETURN_IF_ERROR(ReadTrainRows(s, b, n, &part));
    DRIFTRUN_RETURN_IF_ERROR(visit(part, b));
  }
  return Status::Ok();
}

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
      s.seen_classes.insert(tr.cls.begin(), tr.cls.end());
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
