// Fuzz target: the HDF5 data reader (dataio/h5_io.h, dataio/tabular_data.h).
// Input: the bytes of a data file, written to a scratch file. The target walks
// every group and dataset, reads each dataset whole as numbers and strings, reads
// the attributes driftrun uses, and opens it as training data and as a feature
// matrix, from the path and from memory (the checkpoint route): every call
// gives a value or a Status. Reads are capped at 16 MiB per call.
#include <cstdint>
#include <string>
#include <vector>

#include "dataio/h5_io.h"
#include "dataio/tabular_data.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using driftrun::H5Kind;
using driftrun::H5Reader;

void ReadDataset(const H5Reader& r, const std::string& path) {
  auto info = r.Info(path);
  if (!info.ok()) return;
  const int64_t rows = info.value().rows();
  std::vector<float> f;
  std::vector<int64_t> i;
  std::vector<double> d;
  std::vector<std::string> s;
  (void)r.ReadRange(path, 0, rows, &f);
  (void)r.ReadRange(path, 0, rows, &i);
  (void)r.ReadRange(path, rows / 2, rows - rows / 2, &d);
  (void)r.ReadRows(path, {rows - 1, 0}, &f);
  (void)r.ReadRows(path, {0, rows / 2}, &i);
  if (info.value().kind == H5Kind::kString) (void)r.ReadStrings(path, 0, rows, &s);
  (void)info.value().Describe();
}

void ReadAttrs(const H5Reader& r, const std::string& object) {
  for (const char* name : {"feature_names", "format", "rows", "step", "categorical_names"}) {
    (void)r.AttrStrings(object, name);
    (void)r.AttrString(object, name);
    (void)r.AttrDouble(object, name);
  }
}

void Walk(const H5Reader& r, const std::string& group, int depth, int* budget) {
  auto names = r.List(group);
  if (!names.ok()) return;
  for (const auto& n : names.value()) {
    if (--*budget < 0) return;
    const std::string path = (group == "/" ? "" : group) + "/" + n;
    ReadAttrs(r, path);
    if (r.Info(path).ok()) {
      ReadDataset(r, path);
    } else if (depth < 4) {
      Walk(r, path, depth + 1, budget);
    }
  }
}

void ReadAsTraining(const H5Reader& r, const std::string& path, bool classification, int rank, bool text) {
  driftrun::TabularSpec spec;
  spec.path = path;
  spec.classification = classification;
  spec.rank = rank;
  spec.text = text;
  auto meta = driftrun::InspectTabular(r, spec);
  if (!meta.ok()) return;
  driftrun::TabularRows rows;
  const int64_t n = meta.value().rows;
  (void)driftrun::ReadTabularRange(r, spec, meta.value(), 0, n < 64 ? n : 64, classification ? 4 : 0, &rows);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  driftrun::SetH5ReadLimitBytes(int64_t{16} << 20);  // bounded cost per input
  const std::string path = driftrun::fuzz::WriteScratch("data.h5", data, size);
  auto r = H5Reader::Open(path);
  if (r.ok()) {
    int budget = 64;
    ReadAttrs(*r.value(), "/");
    Walk(*r.value(), "/", 0, &budget);
    ReadAsTraining(*r.value(), path, false, 2, false);
    ReadAsTraining(*r.value(), path, true, 4, false);
    ReadAsTraining(*r.value(), path, true, 2, true);
  }
  (void)driftrun::ReadFeatureMatrix(path, "/features");
  (void)driftrun::ReadCategoricalMatrix(path, "/categorical");
  auto image = H5Reader::OpenImage(std::string(reinterpret_cast<const char*>(data), size), "image.h5");
  if (image.ok()) {
    int budget = 16;
    Walk(*image.value(), "/", 0, &budget);
  }
  return 0;
}
