#include "dataio/h5_io.h"

#include <hdf5.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>

#include "common/file_util.h"
#include "dataio/h5_internal.h"

namespace driftrun {

using h5::Handle;
using h5::SilenceHdf5;

namespace {

// Scattered-row reads (H5Reader::Read): the most bytes of the file one window
// spans, and the widest gap between wanted rows that a window reads through.
constexpr int64_t kWindowBytes = 16 << 20;
constexpr int64_t kGapBytes = 256 << 10;

static_assert(sizeof(hid_t) == sizeof(int64_t), "hid_t is stored as int64_t");

// The one place HDF5 return codes become Status values.
#define H5_CHECK(stmt, what)                                                          \
  do {                                                                                \
    if ((stmt) < 0) {                                                                 \
      return Status::Data(std::string(what) + " (" #stmt " failed at " __FILE__ ":" + \
                          std::to_string(__LINE__) + ")");                            \
    }                                                                                 \
  } while (0)

template <typename T>
hid_t MemType();
template <>
hid_t MemType<float>() {
  return H5T_NATIVE_FLOAT;
}
template <>
hid_t MemType<double>() {
  return H5T_NATIVE_DOUBLE;
}
template <>
hid_t MemType<int64_t>() {
  return H5T_NATIVE_INT64;
}

// Variable-length strings HDF5 allocates while reading, freed however the read
// ends: a read that fails part-way leaves the strings it converted allocated.
class VlenStrings {
 public:
  explicit VlenStrings(size_t n) : ptrs_(n, nullptr) {}
  ~VlenStrings() {
    for (char* p : ptrs_) {
      if (p) H5free_memory(p);
    }
  }
  VlenStrings(const VlenStrings&) = delete;
  VlenStrings& operator=(const VlenStrings&) = delete;
  char** data() { return ptrs_.data(); }
  void AppendTo(std::vector<std::string>* out) const {
    for (const char* p : ptrs_) out->emplace_back(p ? p : "");
  }

 private:
  std::vector<char*> ptrs_;
};

std::atomic<int64_t> g_read_limit{int64_t{1} << 34};

// Status::Data unless `n` elements of `elem` bytes fit the read limit (no overflow).
Status CheckReadSize(const std::string& where, int64_t n, int64_t elem) {
  const int64_t limit = g_read_limit.load();
  if (n < 0 || elem <= 0 || n > limit / elem) {
    return Status::Data(where + ": " + std::to_string(n) + " elements of " + std::to_string(elem) +
                        " bytes exceed the read limit of " + std::to_string(limit) +
                        " bytes (a damaged file, or data too large to read at once)");
  }
  return Status::Ok();
}

}  // namespace

int64_t H5ReadLimitBytes() {
  return g_read_limit.load();
}

void SetH5ReadLimitBytes(int64_t bytes) {
  g_read_limit.store(std::max<int64_t>(bytes, 0));
}

std::string H5DatasetInfo::Describe() const {
  static const char* kNames[] = {"float", "integer", "string", "non-numeric"};
  std::string out = std::string(kNames[static_cast<int>(kind)]) + " [";
  for (size_t i = 0; i < dims.size(); ++i) out += (i ? ", " : "") + std::to_string(dims[i]);
  return out + "]";
}

int64_t H5DatasetInfo::row_width() const {
  int64_t w = 1;
  for (size_t i = 1; i < dims.size(); ++i) w *= dims[i];
  return w;
}

Result<std::unique_ptr<H5Reader>> H5Reader::Open(const std::string& path) {
  SilenceHdf5();
  if (!PathExists(path)) {
    return Status::Data("data file '" + path +
                        "' does not exist; check the path or run `driftrun make-data`");
  }
  if (IsDir(path))
    return Status::Data("'" + path + "' is a directory, not an HDF5 file; name a .h5 file in it");
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    return Status::Data("'" + path + "' is not an HDF5 file (or it is truncated); re-create it");
  }
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return Status::Data("cannot open HDF5 file '" + path + "'; it may be truncated or locked");
  return std::unique_ptr<H5Reader>(new H5Reader(path, f));
}

Result<std::unique_ptr<H5Reader>> H5Reader::OpenImage(const std::string& bytes, const std::string& name) {
  SilenceHdf5();
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  hid_t f = -1;
  if (fapl >= 0 && H5Pset_fapl_core(fapl, 1 << 20, 0) >= 0 &&
      H5Pset_file_image(fapl, const_cast<char*>(bytes.data()), bytes.size()) >= 0) {
    // The core driver refuses a name that exists on disk; this one is only a label.
    f = H5Fopen((name + "#in-memory").c_str(), H5F_ACC_RDONLY, fapl);
  }
  if (fapl >= 0) H5Pclose(fapl);
  if (f < 0) return Status::Data("'" + name + "' is not an HDF5 file (or it is truncated); re-create it");
  return std::unique_ptr<H5Reader>(new H5Reader(name, f));
}

H5Reader::H5Reader(std::string path, int64_t file) : path_(std::move(path)), file_(file) {
  opened_ = StampNow();
}

H5Reader::Stamp H5Reader::StampNow() const {
  Stamp st;
  void* handle = nullptr;
  // The sec2 driver's handle is the file descriptor; the core driver (a file
  // image in memory) has none to check.
  const hid_t fapl = H5Fget_access_plist(file_);
  if (fapl < 0) return st;
  const bool sec2 = H5Pget_driver(fapl) == H5FD_SEC2;
  H5Pclose(fapl);
  if (!sec2) return st;
  if (H5Fget_vfd_handle(file_, H5P_DEFAULT, &handle) < 0 || !handle) return st;
  struct stat sb;
  if (::fstat(*static_cast<int*>(handle), &sb) != 0) return st;
  st.size = static_cast<int64_t>(sb.st_size);
  st.mtime_ns = static_cast<int64_t>(sb.st_mtim.tv_sec) * 1000000000 + sb.st_mtim.tv_nsec;
  st.ino = static_cast<uint64_t>(sb.st_ino);
  return st;
}

std::string H5Reader::Identity() const {
  if (opened_.size < 0) return "";
  return FormatFileIdentity(opened_.ino, opened_.size, opened_.mtime_ns);
}

Status H5Reader::CheckUnchanged() const {
  if (opened_.size < 0) return Status::Ok();
  const Stamp now = StampNow();
  if (now.size == opened_.size && now.mtime_ns == opened_.mtime_ns) return Status::Ok();
  const std::string how =
      now.size == opened_.size
          ? "rewritten in place: same size, " + std::to_string(now.size) + " bytes, newer time"
          : std::to_string(opened_.size) + " bytes when opened, " + std::to_string(now.size) + " now";
  return Status::Data("'" + path_ + "' changed while driftrun was reading it (" + how +
                      "): rows read from it cannot be trusted. Restore the file and run again (a "
                      "training run continues with --resume auto); write new data to a new file");
}

H5Reader::~H5Reader() {
  H5Fclose(file_);
}

std::optional<std::string> H5RootAttr(const std::string& path, const std::string& name) {
  if (!LooksLikeHdf5(path)) return std::nullopt;
  auto r = H5Reader::Open(path);
  if (!r.ok()) return std::nullopt;
  auto v = r.value()->AttrString("/", name);
  if (!v.ok()) return std::nullopt;
  return v.value();
}

bool IsDriftrunOutput(const std::string& path, const std::string& kind) {
  return H5RootAttr(path, "driftrun_output") == kind;
}

bool H5Reader::Has(const std::string& dataset) const {
  if (dataset.empty() || dataset == "/") return true;
  // Walk the path so a missing intermediate group is not an error.
  std::string sofar;
  size_t pos = dataset[0] == '/' ? 1 : 0;
  while (pos <= dataset.size()) {
    size_t next = dataset.find('/', pos);
    if (next == std::string::npos) next = dataset.size();
    sofar += "/" + dataset.substr(pos, next - pos);
    if (H5Lexists(file_, sofar.c_str(), H5P_DEFAULT) <= 0) return false;
    pos = next + 1;
  }
  return true;
}

namespace {

// Whether a dataset's storage was all written. Chunked storage (compressed, or
// with partial edge chunks) is counted in chunks: HDF5's space status calls
// compressed or edge-chunked data "partly allocated" although every chunk is
// there.
bool FullyWritten(hid_t d, const std::vector<hsize_t>& dims) {
  Handle dcpl(H5Dget_create_plist(d));
  if (dcpl.valid() && H5Pget_layout(dcpl.get()) == H5D_CHUNKED) {
    std::vector<hsize_t> chunk(dims.size());
    if (H5Pget_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()) !=
        static_cast<int>(dims.size()))
      return false;
    hsize_t want = 1, have = 0;
    for (size_t i = 0; i < dims.size(); ++i) {
      if (chunk[i] == 0) return false;
      want *= (dims[i] + chunk[i] - 1) / chunk[i];
    }
    Handle space(H5Dget_space(d));
    return H5Dget_num_chunks(d, space.get(), &have) >= 0 && have >= want;
  }
  H5D_space_status_t status;
  return H5Dget_space_status(d, &status) < 0 || status == H5D_SPACE_STATUS_ALLOCATED;
}

// The first compression filter of the dataset that this HDF5 library cannot
// run ("" when all can): LZF, for one, is h5py's own.
std::string MissingFilter(hid_t d) {
  Handle dcpl(H5Dget_create_plist(d));
  if (!dcpl.valid()) return "";
  const int n = H5Pget_nfilters(dcpl.get());
  for (int i = 0; i < n; ++i) {
    unsigned flags = 0, config = 0;
    size_t nelem = 0;
    char name[64] = {0};
    const H5Z_filter_t id = H5Pget_filter2(dcpl.get(), static_cast<unsigned>(i), &flags, &nelem, nullptr,
                                           sizeof(name), name, &config);
    if (id >= 0 && H5Zfilter_avail(id) <= 0)
      return "'" + std::string(name[0] ? name : "unnamed") + "' (filter id " + std::to_string(id) + ")";
  }
  return "";
}

}  // namespace

Result<H5DatasetInfo> H5Reader::Info(const std::string& dataset) const {
  const std::string where = "'" + path_ + "' dataset '" + dataset + "'";
  if (!Has(dataset)) {
    auto top = List("/");
    std::string holds;
    if (top.ok()) {
      for (size_t i = 0; i < top.value().size() && i < 8; ++i) holds += (i ? ", /" : "/") + top.value()[i];
      if (top.value().size() > 8) holds += ", ...";
    }
    return Status::Data(where + " does not exist (the file holds " + (holds.empty() ? "nothing" : holds) +
                        "); check the dataset name (the data.* keys of the config, or the command's flag) "
                        "and that this is the file you meant");
  }
  Handle d(H5Dopen2(file_, dataset.c_str(), H5P_DEFAULT));
  if (!d.valid()) return Status::Data(where + " is not a dataset");
  Handle space(H5Dget_space(d.get()));
  Handle type(H5Dget_type(d.get()));
  int nd = H5Sget_simple_extent_ndims(space.get());
  H5_CHECK(nd, "cannot read the shape of " + where);
  std::vector<hsize_t> dims(nd);
  H5_CHECK(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr), "cannot read the shape of " + where);
  H5DatasetInfo info;
  int64_t total = 1;
  for (hsize_t x : dims) {
    // A damaged header can declare any extent: the shape must have an int64 product.
    if (x > static_cast<hsize_t>(std::numeric_limits<int64_t>::max()) ||
        __builtin_mul_overflow(total, static_cast<int64_t>(x), &total)) {
      return Status::Data(where + " declares a shape too large to address; the file is damaged");
    }
    info.dims.push_back(static_cast<int64_t>(x));
  }
  // A shape whose storage was never (fully) written is an incomplete file: a
  // crashed writer, or a header declaring 2^40 rows in a few KB. Refused here,
  // before anything is sized by the declared row count.
  if (std::string f = MissingFilter(d.get()); !f.empty()) {
    return Status::Data(where + " is compressed with " + f +
                        ", which this HDF5 library cannot decompress (LZF is h5py's own filter); rewrite it "
                        "with gzip compression or none");
  }
  if (total > 0 && !FullyWritten(d.get(), dims)) {
    return Status::Data(where + " declares " + std::to_string(info.dims[0]) +
                        " rows but its data was never (fully) written: the file is incomplete; re-create it");
  }
  switch (H5Tget_class(type.get())) {
    case H5T_FLOAT: info.kind = H5Kind::kFloat; break;
    case H5T_INTEGER: info.kind = H5Kind::kInteger; break;
    case H5T_STRING: info.kind = H5Kind::kString; break;
    default: info.kind = H5Kind::kOther;
  }
  return info;
}

template <typename T>
Status H5Reader::Read(const std::string& dataset, const std::vector<int64_t>* rows, int64_t begin,
                      int64_t count, std::vector<T>* out) const {
  const std::string where = "reading '" + path_ + "' dataset '" + dataset + "'";
  DRIFTRUN_ASSIGN_OR_RETURN(H5DatasetInfo info, Info(dataset));
  if (info.dims.empty()) return Status::Data(where + ": a scalar where rows were expected");
  const int64_t width = info.row_width();
  Handle d(H5Dopen2(file_, dataset.c_str(), H5P_DEFAULT));
  Handle fspace(H5Dget_space(d.get()));
  std::vector<hsize_t> start(info.dims.size(), 0), cnt(info.dims.begin(), info.dims.end());

  // The wanted rows, sorted (duplicates refused), for reading in file order.
  std::vector<int64_t> sorted;
  if (rows) {
    count = static_cast<int64_t>(rows->size());
    sorted = *rows;
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 1; i < sorted.size(); ++i) {
      if (sorted[i] == sorted[i - 1]) return Status::Data(where + ": duplicate row requested");
    }
    if (!sorted.empty() && (sorted.front() < 0 || sorted.back() >= info.rows())) {
      return Status::Data(where + ": row out of range");
    }
  } else if (begin < 0 || count < 0 || begin > info.rows() || count > info.rows() - begin) {
    return Status::Data(where + ": rows [" + std::to_string(begin) + ", +" + std::to_string(count) +
                        ") outside its " + std::to_string(info.rows()) + " rows");
  }
  // count <= rows, so count * width <= the shape's product, which fits.
  DRIFTRUN_RETURN_IF_ERROR(CheckReadSize(where, count * width, sizeof(T) * (rows ? 2 : 1)));
  out->assign(static_cast<size_t>(count * width), T{});
  if (count == 0) return Status::Ok();

  // Reads rows [first, first + n) of the file into dst.
  auto read_range = [&](int64_t first, int64_t n, T* dst) -> Status {
    start[0] = static_cast<hsize_t>(first);
    cnt[0] = static_cast<hsize_t>(n);
    H5_CHECK(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr, cnt.data(), nullptr),
             where + ": bad selection");
    hsize_t mem_dims[1] = {static_cast<hsize_t>(n * width)};
    Handle mspace(H5Screate_simple(1, mem_dims, nullptr));
    H5_CHECK(H5Dread(d.get(), MemType<T>(), mspace.get(), fspace.get(), H5P_DEFAULT, dst),
             where + ": read failed; the file may be truncated or of the wrong type");
    return Status::Ok();
  };
  if (!rows) return read_range(begin, count, out->data());
  // Scattered rows (a holdout, a sample): one contiguous read per window of
  // nearby rows, then the wanted rows picked out of it. (A selection OR-ed
  // together row run by row run costs HDF5 quadratic time: 50,000 rows took
  // minutes.) A window spans at most kWindowBytes of the file and breaks at a
  // gap of more than kGapBytes, so sparse rows do not read what lies between.
  const int64_t row_bytes = std::max<int64_t>(1, width * static_cast<int64_t>(sizeof(T)));
  const int64_t span_rows = std::max<int64_t>(1, kWindowBytes / row_bytes);
  const int64_t gap_rows = std::max<int64_t>(1, kGapBytes / row_bytes);
  std::vector<T> buf(out->size()), window;
  size_t i = 0;
  while (i < sorted.size()) {
    const int64_t lo = sorted[i];
    size_t j = i + 1;
    while (j < sorted.size() && sorted[j] - sorted[j - 1] <= gap_rows && sorted[j] - lo < span_rows) ++j;
    const int64_t n = sorted[j - 1] - lo + 1;
    window.resize(static_cast<size_t>(n * width));
    DRIFTRUN_RETURN_IF_ERROR(read_range(lo, n, window.data()));
    for (size_t k = i; k < j; ++k)
      std::copy_n(window.data() + (sorted[k] - lo) * width, width, buf.data() + k * width);
    i = j;
  }
  // buf holds rows in sorted order; put them back in the requested order.
  for (size_t k = 0; k < rows->size(); ++k) {
    size_t pos = std::lower_bound(sorted.begin(), sorted.end(), (*rows)[k]) - sorted.begin();
    std::copy_n(buf.data() + pos * width, width, out->data() + k * width);
  }
  return Status::Ok();
}

Status H5Reader::ReadRange(const std::string& ds, int64_t b, int64_t c, std::vector<float>* o) const {
  return Read<float>(ds, nullptr, b, c, o);
}
Status H5Reader::ReadRange(const std::string& ds, int64_t b, int64_t c, std::vector<int64_t>* o) const {
  return Read<int64_t>(ds, nullptr, b, c, o);
}
Status H5Reader::ReadRange(const std::string& ds, int64_t b, int64_t c, std::vector<double>* o) const {
  return Read<double>(ds, nullptr, b, c, o);
}
Status H5Reader::ReadRows(const std::string& ds, const std::vector<int64_t>& r, std::vector<float>* o) const {
  return Read<float>(ds, &r, 0, 0, o);
}
Status H5Reader::ReadRows(const std::string& ds, const std::vector<int64_t>& r,
                          std::vector<int64_t>* o) const {
  return Read<int64_t>(ds, &r, 0, 0, o);
}

Result<double> H5Reader::AttrDouble(const std::string& object, const std::string& name) const {
  const std::string where = "'" + path_ + "' attribute '" + name + "' of '" + object + "'";
  if (H5Aexists_by_name(file_, object.c_str(), name.c_str(), H5P_DEFAULT) <= 0) {
    return Status::Data(where + " is missing");
  }
  Handle a(H5Aopen_by_name(file_, object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT));
  double v = 0;
  H5_CHECK(H5Aread(a.get(), H5T_NATIVE_DOUBLE, &v), "cannot read " + where);
  return v;
}

Result<std::vector<std::string>> H5Reader::AttrStrings(const std::string& object,
                                                       const std::string& name) const {
  const std::string where = "'" + path_ + "' attribute '" + name + "' of '" + object + "'";
  if (H5Aexists_by_name(file_, object.c_str(), name.c_str(), H5P_DEFAULT) <= 0) {
    return Status::Data(where + " is missing");
  }
  Handle a(H5Aopen_by_name(file_, object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT));
  Handle ftype(H5Aget_type(a.get()));
  Handle space(H5Aget_space(a.get()));
  if (H5Tget_class(ftype.get()) != H5T_STRING) return Status::Data(where + " is not a string");
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n < 0) return Status::Data("cannot read the size of " + where + "; the file is damaged");
  std::vector<std::string> out;
  if (H5Tis_variable_str(ftype.get()) > 0) {
    DRIFTRUN_RETURN_IF_ERROR(CheckReadSize(where, n, sizeof(char*)));
    VlenStrings ptrs(static_cast<size_t>(n));
    Handle mtype(H5Tcopy(H5T_C_S1));
    H5Tset_size(mtype.get(), H5T_VARIABLE);
    H5Tset_cset(mtype.get(), H5Tget_cset(ftype.get()));
    H5_CHECK(H5Aread(a.get(), mtype.get(), ptrs.data()), "cannot read " + where);
    ptrs.AppendTo(&out);
  } else {
    const size_t len = H5Tget_size(ftype.get());
    if (len == 0) return Status::Data("cannot read the string size of " + where + "; the file is damaged");
    DRIFTRUN_RETURN_IF_ERROR(CheckReadSize(where, n, static_cast<int64_t>(len)));
    std::vector<char> buf(len * n + 1, 0);
    H5_CHECK(H5Aread(a.get(), ftype.get(), buf.data()), "cannot read " + where);
    for (hssize_t i = 0; i < n; ++i) {
      std::string s(buf.data() + i * len, len);
      s.erase(s.find_last_not_of('\0') + 1);
      out.push_back(s);
    }
  }
  return out;
}

Status H5Reader::ReadStrings(const std::string& dataset, int64_t begin, int64_t count,
                             std::vector<std::string>* out) const {
  const std::string where = "reading '" + path_ + "' dataset '" + dataset + "'";
  DRIFTRUN_ASSIGN_OR_RETURN(H5DatasetInfo info, Info(dataset));
  if (info.kind != H5Kind::kString || info.dims.size() != 1) {
    return Status::Data(where + ": expected a 1-D string array [rows]");
  }
  if (begin < 0 || count < 0 || begin > info.rows() || count > info.rows() - begin) {
    return Status::Data(where + ": rows [" + std::to_string(begin) + ", +" + std::to_string(count) +
                        ") outside its " + std::to_string(info.rows()) + " rows");
  }
  out->clear();
  if (count == 0) return Status::Ok();
  Handle d(H5Dopen2(file_, dataset.c_str(), H5P_DEFAULT));
  Handle ftype(H5Dget_type(d.get()));
  Handle fspace(H5Dget_space(d.get()));
  hsize_t start = static_cast<hsize_t>(begin), cnt = static_cast<hsize_t>(count);
  H5_CHECK(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, &start, nullptr, &cnt, nullptr), where);
  Handle mspace(H5Screate_simple(1, &cnt, nullptr));
  if (H5Tis_variable_str(ftype.get()) > 0) {
    DRIFTRUN_RETURN_IF_ERROR(CheckReadSize(where, count, sizeof(char*)));
    VlenStrings ptrs(static_cast<size_t>(count));
    Handle mtype(H5Tcopy(H5T_C_S1));
    H5Tset_size(mtype.get(), H5T_VARIABLE);
    H5Tset_cset(mtype.get(), H5Tget_cset(ftype.get()));
    H5_CHECK(H5Dread(d.get(), mtype.get(), mspace.get(), fspace.get(), H5P_DEFAULT, ptrs.data()),
             where + ": read failed; the file may be truncated");
    ptrs.AppendTo(out);
  } else {
    const size_t len = H5Tget_size(ftype.get());
    if (len == 0) return Status::Data(where + ": cannot read the string size; the file is damaged");
    DRIFTRUN_RETURN_IF_ERROR(CheckReadSize(where, count, static_cast<int64_t>(len)));
    std::vector<char> buf(len * count + 1, 0);
    H5_CHECK(H5Dread(d.get(), ftype.get(), mspace.get(), fspace.get(), H5P_DEFAULT, buf.data()),
             where + ": read failed; the file may be truncated");
    for (int64_t i = 0; i < count; ++i) {
      std::string v(buf.data() + i * len, len);
      v.erase(v.find_last_not_of('\0') + 1);
      out->push_back(v);
    }
  }
  return Status::Ok();
}

Result<std::string> H5Reader::AttrString(const std::string& object, const std::string& name) const {
  DRIFTRUN_ASSIGN_OR_RETURN(auto v, AttrStrings(object, name));
  if (v.size() != 1) return Status::Data("attribute '" + name + "' of '" + object + "' is not one string");
  return v[0];
}

Result<std::vector<std::string>> H5Reader::List(const std::string& group) const {
  if (!Has(group)) return Status::Data("'" + path_ + "' has no group '" + group + "'");
  Handle g(H5Gopen2(file_, group.c_str(), H5P_DEFAULT));
  if (!g.valid()) return Status::Data("'" + path_ + "': '" + group + "' is not a group");
  H5G_info_t info;
  H5_CHECK(H5Gget_info(g.get(), &info), "cannot list group '" + group + "'");
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t len = H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    H5_CHECK(len, "cannot list group '" + group + "'");
    std::string name(static_cast<size_t>(len) + 1, '\0');
    H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT);
    name.resize(static_cast<size_t>(len));
    names.push_back(name);
  }
  return names;
}

}  // namespace driftrun
