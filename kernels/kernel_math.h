// Per-element and per-block math shared by the CPU reference and the CUDA
// kernels, so the CPU tests exercise the arithmetic the GPU runs; only launch and
// indexing differ between op.cpp and op.cu (STYLE.md point 4).
//
// Conventions for every op: features are float32, row-major [rows, columns]; NaN
// marks a missing value; +-Inf is counted as non-finite and treated as missing.
#pragma once

#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define DRIFTRUN_HD __host__ __device__ __forceinline__
#else
#define DRIFTRUN_HD inline
#endif

namespace driftrun {
namespace kmath {

DRIFTRUN_HD bool IsFinite(float v) {
  return !(v != v) && v - v == 0.0f;
}

// Running count, mean, sum of squared deviations, min and max of one column
// (Welford), mergeable exactly with Chan's formula.
struct Moments {
  double n = 0;
  double mean = 0;
  double m2 = 0;
  double min = INFINITY;
  double max = -INFINITY;
  double nonfinite = 0;  // +-Inf seen (excluded from the moments)

  DRIFTRUN_HD void Add(float v) {
    if (v != v) return;  // missing
    if (!IsFinite(v)) {
      nonfinite += 1;
      return;
    }
    n += 1;
    const double d = v - mean;
    mean += d / n;
    m2 += d * (v - mean);
    min = v < min ? v : min;
    max = v > max ? v : max;
  }

  DRIFTRUN_HD void Merge(const Moments& o) {
    if (o.n == 0) {
      nonfinite += o.nonfinite;
      return;
    }
    if (n == 0) {
      const double inf = nonfinite;
      *this = o;
      nonfinite += inf;
      return;
    }
    const double total = n + o.n;
    const double d = o.mean - mean;
    mean += d * (o.n / total);
    m2 += o.m2 + d * d * (n * o.n / total);
    n = total;
    min = o.min < min ? o.min : min;
    max = o.max > max ? o.max : max;
    nonfinite += o.nonfinite;
  }
};

// Per-column parameters of the fused transform (see transform.h).
struct ColumnTransform {
  float fill;   // value for a missing or non-finite input
  float shift;  // subtracted after imputation
  float scale;  // multiplied after the shift
  float lo;     // clip bounds after scaling (-inf/inf: none)
  float hi;
};

// One element of the fused transform on scalar parameters; sets the flags the
// report counts. Branch-free, so the CPU loop over columns vectorises.
DRIFTRUN_HD float TransformScalar(float v, float fill, float shift, float scale, float lo, float hi,
                                  bool* imputed, bool* clipped) {
  const bool bad = !(v - v == 0.0f);  // NaN or +-Inf
  float x = bad ? fill : v;
  x = (x - shift) * scale;
  *imputed = bad;
  *clipped = (x < lo) | (x > hi);
  x = x < lo ? lo : x;
  x = x > hi ? hi : x;
  return x;
}

DRIFTRUN_HD float TransformOne(float v, const ColumnTransform& p, bool* imputed, bool* clipped) {
  return TransformScalar(v, p.fill, p.shift, p.scale, p.lo, p.hi, imputed, clipped);
}

// Bin of v among `nedges` sorted edges: bin k holds edges[k-1] < v <= edges[k]
// for k in 1..nedges-1; 0 is v <= edges[0] (underflow), nedges is v > last
// (overflow), nedges + 1 is missing (NaN or +-Inf). So a histogram has nedges + 2
// slots.
DRIFTRUN_HD int BinOf(float v, const float* edges, int nedges) {
  if (!IsFinite(v)) return nedges + 1;
  // Branch-free lower bound: the first edge >= v (Khuong and Morin).
  const float* base = edges;
  int n = nedges;
  while (n > 1) {
    const int half = n >> 1;
    base = (base[half] < v) ? base + half : base;
    n -= half;
  }
  return static_cast<int>(base - edges) + (*base < v);
}

// The CUDA kernels' walk over a row-major [rows, cols] buffer: thread t of T
// takes vectors of `width` consecutive elements, vector t, t + T, t + 2T, ...,
// of the first total / width * width elements; the rest (fewer than width)
// are walked one element at a time (TailBegin). A thread's column advances by a fixed
// stride, so no division is needed per element (a 64-bit modulo costs more
// than the rest of a histogram update). tests/kernels/column_walk_test.cpp
// checks that every element is visited once with its column.
struct ColumnWalk {
  int64_t vec;  // the current vector's index (its first element: vec * width)
  int col;      // the current vector's first column
  int delta;    // (T * width) % cols
  int cols;
  DRIFTRUN_HD ColumnWalk(int64_t t, int64_t threads, int width, int columns)
      : vec(t),
        col(static_cast<int>((t * width) % columns)),
        delta(static_cast<int>((threads * width) % columns)),
        cols(columns) {}
  DRIFTRUN_HD void Advance(int64_t threads) {
    vec += threads;
    col += delta;
    if (col >= cols) col -= cols;
  }
  // The column after column j.
  DRIFTRUN_HD int Next(int j) const { return j + 1 == cols ? 0 : j + 1; }
};

// The first element of the tail [TailBegin, total), which the threads walk one
// element each: t + TailBegin, t + TailBegin + T, ...
DRIFTRUN_HD int64_t TailBegin(int64_t total, int width) {
  return total / width * width;
}

// 64-bit mix (splitmix64 finalizer) for hashing categorical values into buckets.
DRIFTRUN_HD uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

DRIFTRUN_HD int64_t HashBucket(int64_t value, int column, int64_t buckets) {
  return static_cast<int64_t>(Mix64(static_cast<uint64_t>(value) ^ (0x9e3779b97f4a7c15ULL * (column + 1))) %
                              static_cast<uint64_t>(buckets));
}

// Index of `value` in a sorted vocabulary of n values, or n (the unseen bucket).
DRIFTRUN_HD int64_t VocabIndex(int64_t value, const int64_t* vocab, int64_t n) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    const int64_t mid = (lo + hi) >> 1;
    if (vocab[mid] < value) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return (lo < n && vocab[lo] == value) ? lo : n;
}

}  // namespace kmath
}  // namespace driftrun

namespace driftrun {
namespace kmath {

// Moments of one column over `rows` rows starting at x (stride = row length),
// in two passes (sum, then squared deviations from the block mean): the
// per-block step of the column statistics op on CPU and GPU alike.
DRIFTRUN_HD Moments BlockMoments(const float* x, int64_t rows, int64_t stride) {
  Moments m;
  double sum = 0;
  for (int64_t i = 0; i < rows; ++i) {
    const float v = x[i * stride];
    if (v != v) continue;
    if (!IsFinite(v)) {
      m.nonfinite += 1;
      continue;
    }
    m.n += 1;
    sum += v;
    m.min = v < m.min ? v : m.min;
    m.max = v > m.max ? v : m.max;
  }
  if (m.n == 0) return m;
  m.mean = sum / m.n;
  double m2 = 0;
  for (int64_t i = 0; i < rows; ++i) {
    const float v = x[i * stride];
    if (IsFinite(v)) m2 += (v - m.mean) * (v - m.mean);
  }
  m.m2 = m2;
  return m;
}

}  // namespace kmath
}  // namespace driftrun
