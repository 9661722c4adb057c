#include "runner/mpi_env.h"

#include <mpi.h>

#include <cstdlib>
#include <string>

#include "comm/mpi_communicator.h"

namespace driftrun {

Result<MpiEnv*> MpiEnv::Init(int* argc, char*** argv) {
  if (!std::getenv("OMPI_COMM_WORLD_SIZE") && !std::getenv("PMIX_RANK") && !std::getenv("PMI_RANK")) {
    setenv("OMPI_MCA_ess_singleton_isolated", "1", 0);
  }
  SetMpiDefaults();
  int provided = 0;
  if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    return Status::Infra("MPI_Init_thread failed; check the Open MPI installation (mpirun --version)");
  }
  auto* env = new MpiEnv();
  MPI_Comm_rank(MPI_COMM_WORLD, &env->rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &env->size_);
  return env;
}

MpiEnv::~MpiEnv() {
  MPI_Finalize();
}

Status MpiEnv::Agree(const Status& local) const {
  if (size_ == 1) return local;
  int in[2] = {static_cast<int>(local.code()), -(local.ok() ? size_ : rank_)};  // max code, min failing rank
  int out[2] = {0, 0};
  if (MPI_Allreduce(in, out, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS)
    return local.ok() ? Status::Infra("MPI_Allreduce failed while the ranks compared their start-up checks")
                      : local;
  if (out[0] == 0) return Status::Ok();
  if (-out[1] != rank_) return Status(static_cast<Code>(out[0]), "");
  return rank_ == 0 ? local : Status(local.code(), "rank " + std::to_string(rank_) + ": " + local.message());
}

void MpiEnv::Abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

namespace {

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

}  // namespace

int MpiEnv::local_rank() const {
  return EnvInt("OMPI_COMM_WORLD_LOCAL_RANK", EnvInt("SLURM_LOCALID", 0));
}

int MpiEnv::local_size() const {
  return EnvInt("OMPI_COMM_WORLD_LOCAL_SIZE", EnvInt("SLURM_NTASKS_PER_NODE", 0));
}

}  // namespace driftrun
