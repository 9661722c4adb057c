// HDF5 reading and writing for driftrun's data and checkpoints.
//
// Reads select rows by hyperslab, so a rank touches only the rows it trains on,
// never the whole file. HDF5 error codes become Status values in h5_io.cpp alone
// (H5_CHECK); HDF5's own error printing is switched off. Every failure names the
// file and dataset. Not thread-safe (Debian's HDF5 is built without thread-safety):
// one thread per process does HDF5 I/O.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace driftrun {

enum class H5Kind { kFloat, kInteger, kString, kOther };

// The most bytes one read (ReadRange, ReadRows, ReadStrings, a string attribute)
// may allocate: a file can declare any shape in a few bytes, so a read is sized
// by this limit as well as by the shape, and a bigger one is Status::Data naming
// the sizes. 16 GiB unless lowered (the fuzzers lower it); process-wide.
int64_t H5ReadLimitBytes();
void SetH5ReadLimitBytes(int64_t bytes);

struct H5DatasetInfo {
  std::vector<int64_t> dims;
  H5Kind kind = H5Kind::kOther;
  int64_t rows() const { return dims.empty() ? 0 : dims[0]; }
  // Product of the dimensions after the first (1 for a 1-D dataset). Info()
  // refuses shapes whose product does not fit an int64, so this cannot overflow.
  int64_t row_width() const;
  // "integer [20, 1, 8, 8]": what a message says was found.
  std::string Describe() const;
};

// The root string attribute `name` of the HDF5 file `path`; nullopt, silently,
// when the file is not HDF5, cannot be opened or lacks the attribute: how a
// command recognises a file it wrote (a profile, a data set, an output).
std::optional<std::string> H5RootAttr(const std::string& path, const std::string& name);

// Whether `path` is an HDF5 file whose root attribute "driftrun_output" is
// `kind` (false for any other file, silently): how an output check knows an
// earlier output of a command ("predictions", "preprocessed").
bool IsDriftrunOutput(const std::string& path, const std::string& kind);

class H5Reader {
 public:
  // Data errors (missing file, not HDF5) are Status::Data naming the path.
  static Result<std::unique_ptr<H5Reader>> Open(const std::string& path);
  // Reads an HDF5 file from bytes already in memory (the core driver): the
  // bytes a caller hashed are the bytes read. `name` is for messages.
  static Result<std::unique_ptr<H5Reader>> OpenImage(const std::string& bytes, const std::string& name);
  ~H5Reader();
  const std::string& path() const { return path_; }
  bool Has(const std::string& dataset) const;
  Result<H5DatasetInfo> Info(const std::string& dataset) const;
  // Reads rows [begin, begin+count) into `out` (resized), converted to the element
  // type. `rows` variants read the given row indices, in the given order.
  Status ReadRange(const std::string& dataset, int64_t begin, int64_t count, std::vector<float>* out) const;
  Status ReadRange(const std::string& dataset, int64_t begin, int64_t count, std::vector<int64_t>* out) const;
  Status ReadRange(const std::string& dataset, int64_t begin, int64_t count, std::vector<double>* out) const;
  Status ReadRows(const std::string& dataset, const std::vector<int64_t>& rows,
                  std::vector<float>* out) const;
  Status ReadRows(const std::string& dataset, const std::vector<int64_t>& rows,
                  std::vector<int64_t>* out) const;
  // Rows [begin, begin+count) of a 1-D string dataset (variable or fixed length).
  Status ReadStrings(const std::string& dataset, int64_t begin, int64_t count,
                     std::vector<std::string>* out) const;
  // Scalar attributes of the root group or a dataset ("/" for the file).
  Result<double> AttrDouble(const std::string& object, const std::string& name) const;
  Result<std::string> AttrString(const std::string& object, const std::string& name) const;
  Result<std::vector<std::string>> AttrStrings(const std::string& object, const std::string& name) const;
  // Names of the members of a group.
  Result<std::vector<std::string>> List(const std::string& group) const;
  // Status::Data when the open file's size or modification time changed since
  // Open (written to or truncated in place while being read: rows read from it
  // cannot be trusted). A file replaced by rename is not a change: the open
  // handle still reads the old one.
  Status CheckUnchanged() const;
  // The opened file's identity (FileIdentity's form: inode, size,
  // modification time), "" when it has no file descriptor (an in-memory image).
  std::string Identity() const;

 private:
  H5Reader(std::string path, int64_t file);
  template <typename T>
  Status Read(const std::string& dataset, const std::vector<int64_t>* rows, int64_t begin, int64_t count,
              std::vector<T>* out) const;
  struct Stamp {
    int64_t size = -1, mtime_ns = 0;
    uint64_t ino = 0;
  };
  Stamp StampNow() const;
  std::string path_;
  int64_t file_;
  Stamp opened_;
};

// Writes a new HDF5 file at a temporary path; Commit() makes it durable and renames
// it into place, so readers never see a half-written file. Destroying an
// uncommitted writer removes the temporary file.
class H5Writer {
 public:
  static Result<std::unique_ptr<H5Writer>> Create(const std::string& path);
  ~H5Writer();
  Status Write(const std::string& dataset, const std::vector<int64_t>& dims, const float* data);
  Status Write(const std::string& dataset, const std::vector<int64_t>& dims, const double* data);
  Status Write(const std::string& dataset, const std::vector<int64_t>& dims, const int64_t* data);
  Status Write(const std::string& dataset, const std::vector<int64_t>& dims, const uint8_t* data);
  // A 1-D variable-length UTF-8 string dataset (h5py reads it as str).
  Status WriteStrings(const std::string& dataset, const std::vector<std::string>& v);
  Status AttrDouble(const std::string& object, const std::string& name, double v);
  Status AttrString(const std::string& object, const std::string& name, const std::string& v);
  Status AttrStrings(const std::string& object, const std::string& name, const std::vector<std::string>& v);
  // Creates intermediate groups as needed (datasets do so on their own).
  Status Group(const std::string& group);
  Status Commit();

 private:
  H5Writer(std::string path, std::string tmp, int64_t file)
      : path_(std::move(path)), tmp_(std::move(tmp)), file_(file) {}
  Status WriteRaw(const std::string& dataset, const std::vector<int64_t>& dims, int64_t type,
                  const void* data);
  Status CloseFile();
  std::string path_, tmp_;
  int64_t file_;
  bool committed_ = false;
};

}  // namespace driftrun
