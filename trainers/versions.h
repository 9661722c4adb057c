// Versions of the libraries a model was trained with, for lineage records.
#pragma once

#include <map>
#include <string>

namespace driftrun {

// libtorch, cuda ("none" in CPU builds), nccl, mpi, hdf5.
std::map<std::string, std::string> LibraryVersions();

}  // namespace driftrun
