// Internals shared by the HDF5 reader (h5_io.cpp) and writer (h5_writer.cpp).
// Not part of dataio's interface.
#pragma once

#include <hdf5.h>

#include <string>

namespace driftrun {
namespace h5 {

// Closes an HDF5 handle of any kind when it goes out of scope.
class Handle {
 public:
  explicit Handle(hid_t id = -1) : id_(id) {}
  ~Handle() {
    if (id_ >= 0) H5Idec_ref(id_);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_;
};

// Turns off HDF5's error printing and its clean-up at exit (once per process).
void SilenceHdf5();

// Why a write failed, from the errno HDF5's POSIX driver left behind.
std::string WriteFailure(int err);

}  // namespace h5
}  // namespace driftrun
