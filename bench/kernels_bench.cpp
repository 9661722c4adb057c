// Kernel benchmark: the fused transform and the histograms in GB/s next to a
// plain copy of the same bytes, and text n-gram hashing in MB/s of text (the GPU
// number includes copying the strings to the device), on the CPU and, when a GPU
// is present, on the GPU (next to a device-to-device copy and to the same
// transform written as PyTorch eager operations). One line per measurement.
// Usage: kernels_bench [rows] [cols] [reps]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <vector>

#include "kernels/column_stats.h"
#include "kernels/histogram.h"
#include "kernels/quantiles.h"
#include "kernels/text_hash.h"
#include "kernels/transform.h"
#ifdef DRIFTRUN_WITH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace {

using Clock = std::chrono::steady_clock;

double MedianSeconds(int reps, const std::function<void()>& fn, const std::function<void()>& sync) {
  fn();
  sync();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto a = Clock::now();
    fn();
    sync();
    t.push_back(std::chrono::duration<double>(Clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

struct BenchData {
  at::Tensor x;  // float32 [rows, cols], 2% NaN
  std::vector<driftrun::kmath::ColumnTransform> params;
  at::Tensor edges;  // 10 bins per column
  double bytes = 0;
  int64_t cols = 0;
};

BenchData MakeData(int64_t rows, int64_t cols) {
  using namespace driftrun;
  BenchData d;
  at::manual_seed(1);
  d.x = at::randn({rows, cols});
  d.x.masked_fill_(at::rand({rows, cols}) < 0.02, NAN);
  d.bytes = static_cast<double>(d.x.numel()) * sizeof(float);
  d.cols = cols;
  auto stats = ColumnStats(d.x).take();
  std::vector<std::string> names(cols, "c");
  std::vector<std::string> notes;
  ColumnTransformOptions opt;
  opt.clip_sigma = 3;
  d.params = MakeTransform(stats, std::vector<double>(cols, NAN),
                           std::vector<ColumnTransformOptions>(cols, opt), names, &notes);
  d.edges = at::linspace(-3, 3, 11).repeat({cols, 1}).contiguous();
  return d;
}

void BenchCpu(const BenchData& d, int reps) {
  using namespace driftrun;
  const double bytes = d.bytes;
  at::Tensor out = at::empty_like(d.x);
  std::vector<char> dst(static_cast<size_t>(bytes));
  auto nosync = [] {};
  const double t_copy = MedianSeconds(
      reps, [&] { std::memcpy(dst.data(), d.x.data_ptr<float>(), bytes); }, nosync);
  const double t_par_copy = MedianSeconds(
      reps, [&] { out.copy_(d.x); }, nosync);
  const double t_tr = MedianSeconds(
      reps, [&] { FusedTransform(d.x, d.params, false, &out).ok(); }, nosync);
  const double t_hist = MedianSeconds(
      reps, [&] { Histograms(d.x, d.edges).ok(); }, nosync);
  // Copy GB/s counts bytes read + written, like the transform.
  std::printf("cpu memcpy (1 thread)         %7.2f GB/s\n", 2 * bytes / t_copy / 1e9);
  std::printf("cpu tensor copy (all threads) %7.2f GB/s\n", 2 * bytes / t_par_copy / 1e9);
  std::printf("cpu fused transform           %7.2f GB/s  = %.0f%% of the parallel copy\n",
              2 * bytes / t_tr / 1e9, 100 * t_par_copy / t_tr);
  std::printf("cpu histograms (10 bins)      %7.2f GB/s read  = %.0f%% of the copy's read rate\n",
              bytes / t_hist / 1e9, 100 * (bytes / t_hist) / (bytes / t_par_copy));
}

// 200k random tickets of 4-30 words.
std::vector<std::string> MakeTexts() {
  std::vector<std::string> texts;
  const char* words[] = {"invoice", "password", "Refund", "crash",   "the",   "delivery",
                         "app",     "is",       "not",    "working", "since", "yesterday",
                         "urgent!", "account",  "locked", "error"};
  uint64_t r = 7;
  for (int i = 0; i < 200000; ++i) {
    std::string t;
    r = r * 6364136223846793005ULL + 1442695040888963407ULL;
    const int n = 4 + static_cast<int>((r >> 33) % 27);
    for (int k = 0; k < n; ++k) {
      r = r * 6364136223846793005ULL + 1442695040888963407ULL;
      t += std::string(k ? " " : "") + words[(r >> 33) % 16];
    }
    texts.push_back(t);
  }
  return texts;
}

#ifdef DRIFTRUN_WITH_CUDA
void BenchGpu(const BenchData& d, const std::vector<std::string>& texts, double text_bytes, double t_text,
              int reps) {
  using namespace driftrun;
  const double bytes = d.bytes;
  const int64_t cols = d.cols;
  at::Tensor gx = d.x.cuda(), gout = at::empty_like(gx);
  auto sync = [] { c10::cuda::device_synchronize(); };
  const double g_copy = MedianSeconds(
      reps * 4, [&] { gout.copy_(gx); }, sync);
  const double g_tr = MedianSeconds(
      reps * 4, [&] { FusedTransform(gx, d.params, false, &gout).ok(); }, sync);
  const double g_hist = MedianSeconds(
      reps * 4, [&] { Histograms(gx, d.edges).ok(); }, sync);
  at::Tensor fill = at::empty({cols}), shift = at::empty({cols}), scale = at::empty({cols});
  for (int64_t j = 0; j < cols; ++j) {
    fill[j] = d.params[j].fill;
    shift[j] = d.params[j].shift;
    scale[j] = d.params[j].scale;
  }
  fill = fill.cuda();
  shift = shift.cuda();
  scale = scale.cuda();
  const double g_eager = MedianSeconds(
      reps * 4,
      [&] {
        at::Tensor v = at::where(at::isfinite(gx), gx, fill);
        v = ((v - shift) * scale).clamp(-3, 3);
      },
      sync);
  std::printf("gpu device copy               %7.1f GB/s\n", 2 * bytes / g_copy / 1e9);
  std::printf("gpu fused transform           %7.1f GB/s  = %.0f%% of the device copy\n",
              2 * bytes / g_tr / 1e9, 100 * g_copy / g_tr);
  std::printf("gpu histograms (10 bins)      %7.1f GB/s read  = %.0f%% of the copy's read rate\n",
              bytes / g_hist / 1e9, 100 * g_copy / g_hist);
  std::printf("gpu PyTorch eager transform   %7.1f GB/s  -> fused is %.1fx faster\n",
              2 * bytes / g_eager / 1e9, g_eager / g_tr);
  NgramOptions ng;
  ng.max_ids = 128;
  const double g_text = MedianSeconds(
      reps, [&] { HashText(texts, ng, at::Device(at::kCUDA, 0)).ok(); }, sync);
  std::printf("gpu text hashing              %7.1f MB/s of text  (%.0f texts/s) -> %.1fx the CPU\n",
              text_bytes / g_text / 1e6, texts.size() / g_text, t_text / g_text);
}
#endif

}  // namespace

int main(int argc, char** argv) {
  using namespace driftrun;
  const int64_t rows = argc > 1 ? std::atoll(argv[1]) : 4000000;
  const int64_t cols = argc > 2 ? std::atoll(argv[2]) : 32;
  const int reps = argc > 3 ? std::atoi(argv[3]) : 5;
  const BenchData d = MakeData(rows, cols);
  std::printf("data: %lld x %lld float32 (%.0f MB), %d threads, median of %d\n", static_cast<long long>(rows),
              static_cast<long long>(cols), d.bytes / 1e6, at::get_num_threads(), reps);
  BenchCpu(d, reps);

  const std::vector<std::string> texts = MakeTexts();
  double text_bytes = 0;
  for (const auto& t : texts) text_bytes += static_cast<double>(t.size());
  NgramOptions ng;
  ng.max_ids = 128;
  const double t_text = MedianSeconds(
      reps, [&] { HashText(texts, ng, at::kCPU).ok(); }, [] {});
  std::printf("cpu text hashing              %7.1f MB/s of text  (%.0f texts/s)\n", text_bytes / t_text / 1e6,
              texts.size() / t_text);
#ifndef DRIFTRUN_WITH_CUDA
  std::printf("gpu: built without CUDA, skipped\n");
  return 0;
#else
  if (!at::globalContext().hasCUDA()) {
    std::printf("gpu: none present, skipped\n");
    return 0;
  }
  BenchGpu(d, texts, text_bytes, t_text, reps);
  return 0;
#endif
}
