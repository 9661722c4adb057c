// HDF5 writing: the whole file goes to a temporary name and is renamed into
// place by Commit() (nothing half-written under the final name).
#include <hdf5.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/file_util.h"
#include "dataio/h5_internal.h"
#include "dataio/h5_io.h"

namespace driftrun {
namespace h5 {

void SilenceHdf5() {
  static bool done = [] {
    // No HDF5 clean-up at exit: a file whose flush failed (disk full, EFBIG) is
    // left open in HDF5's table, and H5_term_library segfaults closing it again.
    // Every writer closes (and on failure removes) its file itself.
    H5dont_atexit();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

std::string WriteFailure(int err) {
  if (err == ENOSPC) return "disk full; free space and retry";
  if (err == EFBIG || err == EDQUOT)
    return "file size limit or disk quota reached; free space or raise the limit";
  if (err == EIO) return "I/O error; check the disk";
  return "disk full or unwritable? (" + std::string(std::strerror(err)) + ")";
}

}  // namespace h5

using h5::Handle;
using h5::SilenceHdf5;
using h5::WriteFailure;

Result<std::unique_ptr<H5Writer>> H5Writer::Create(const std::string& path) {
  SilenceHdf5();
  RemoveStaleTemps(path);
  std::string tmp = TempPathFor(path);
  hid_t f = H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) {
    return Status::Infra("cannot create HDF5 file '" + tmp +
                         "'; check that the folder exists and is writable");
  }
  return std::unique_ptr<H5Writer>(new H5Writer(path, tmp, f));
}

H5Writer::~H5Writer() {
  if (!committed_) {
    CloseFile().ok();
    std::remove(tmp_.c_str());
  }
}

Status H5Writer::CloseFile() {
  if (file_ < 0) return Status::Ok();
  herr_t rc = H5Fclose(file_);
  file_ = -1;
  if (rc < 0) return Status::Infra("closing '" + tmp_ + "' failed: " + WriteFailure(errno));
  return Status::Ok();
}

Status H5Writer::Group(const std::string& group) {
  Handle lcpl(H5Pcreate(H5P_LINK_CREATE));
  H5Pset_create_intermediate_group(lcpl.get(), 1);
  if (H5Lexists(file_, group.c_str(), H5P_DEFAULT) > 0) return Status::Ok();
  Handle g(H5Gcreate2(file_, group.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT));
  if (!g.valid()) return Status::Infra("cannot create group '" + group + "' in '" + tmp_ + "'");
  return Status::Ok();
}

Status H5Writer::WriteRaw(const std::string& dataset, const std::vector<int64_t>& dims, int64_t type,
                          const void* data) {
  const std::string where = "writing dataset '" + dataset + "' to '" + tmp_ + "'";
  std::vector<hsize_t> hd(dims.begin(), dims.end());
  Handle space(H5Screate_simple(static_cast<int>(hd.size()), hd.data(), nullptr));
  Handle lcpl(H5Pcreate(H5P_LINK_CREATE));
  H5Pset_create_intermediate_group(lcpl.get(), 1);
  Handle d(H5Dcreate2(file_, dataset.c_str(), type, space.get(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT));
  if (!d.valid()) return Status::Infra(where + ": cannot create it");
  if (H5Dwrite(d.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
    return Status::Infra(where + ": write failed: " + WriteFailure(errno));
  }
  return Status::Ok();
}

Status H5Writer::Write(const std::string& ds, const std::vector<int64_t>& dims, const float* d) {
  return WriteRaw(ds, dims, H5T_NATIVE_FLOAT, d);
}
Status H5Writer::Write(const std::string& ds, const std::vector<int64_t>& dims, const double* d) {
  return WriteRaw(ds, dims, H5T_NATIVE_DOUBLE, d);
}
Status H5Writer::Write(const std::string& ds, const std::vector<int64_t>& dims, const int64_t* d) {
  return WriteRaw(ds, dims, H5T_NATIVE_INT64, d);
}
Status H5Writer::Write(const std::string& ds, const std::vector<int64_t>& dims, const uint8_t* d) {
  return WriteRaw(ds, dims, H5T_NATIVE_UINT8, d);
}

Status H5Writer::WriteStrings(const std::string& dataset, const std::vector<std::string>& v) {
  Handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  std::vector<const char*> ptrs;
  for (const auto& x : v) ptrs.push_back(x.c_str());
  return WriteRaw(dataset, {static_cast<int64_t>(v.size())}, type.get(), ptrs.data());
}

Status H5Writer::AttrDouble(const std::string& object, const std::string& name, double v) {
  Handle space(H5Screate(H5S_SCALAR));
  Handle a(H5Acreate_by_name(file_, object.c_str(), name.c_str(), H5T_NATIVE_DOUBLE, space.get(), H5P_DEFAULT,
                             H5P_DEFAULT, H5P_DEFAULT));
  if (!a.valid() || H5Awrite(a.get(), H5T_NATIVE_DOUBLE, &v) < 0) {
    return Status::Infra("cannot write attribute '" + name + "' to '" + tmp_ + "'");
  }
  return Status::Ok();
}

Status H5Writer::AttrStrings(const std::string& object, const std::string& name,
                             const std::vector<std::string>& v) {
  hsize_t n = v.size();
  Handle space(n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr));
  Handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  std::vector<const char*> ptrs;
  for (const auto& s : v) ptrs.push_back(s.c_str());
  Handle a(H5Acreate_by_name(file_, object.c_str(), name.c_str(), type.get(), space.get(), H5P_DEFAULT,
                             H5P_DEFAULT, H5P_DEFAULT));
  if (!a.valid() || H5Awrite(a.get(), type.get(), ptrs.data()) < 0) {
    return Status::Infra("cannot write attribute '" + name + "' to '" + tmp_ + "'");
  }
  return Status::Ok();
}

Status H5Writer::AttrString(const std::string& object, const std::string& name, const std::string& v) {
  return AttrStrings(object, name, {v});
}

Status H5Writer::Commit() {
  DRIFTRUN_RETURN_IF_ERROR(CloseFile());
  DRIFTRUN_RETURN_IF_ERROR(CommitFileAtomic(tmp_, path_));
  committed_ = true;
  return Status::Ok();
}

}  // namespace driftrun
