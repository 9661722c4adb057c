// MpiEnv: MPI_Init/MPI_Finalize for the process, and the world communicator.
//
// A process started without mpirun runs as a one-rank world; it is made an
// isolated singleton (OMPI_MCA_ess_singleton_isolated=1) so no orted helper is
// forked. MPI is initialised with MPI_THREAD_FUNNELED: only the main thread calls
// MPI ([MPI threads]: gradient hooks on CPU run on the thread calling backward).
// Abort() ends every rank at once; use it when a collective may be stuck.
#pragma once

#include "common/status.h"

namespace driftrun {

class MpiEnv {
 public:
  static Result<MpiEnv*> Init(int* argc, char*** argv);
  ~MpiEnv();
  [[noreturn]] void Abort(int code);
  // Collective on the world, for checks made before any communicator exists
  // (a config each rank loads, its environment): every rank gets the highest
  // error code; the lowest failing rank keeps its message ("rank N: ..." when
  // N > 0) and the others get an empty one, so a failure prints once and no
  // rank is left waiting in a collective its peers never reach.
  Status Agree(const Status& local) const;
  int rank() const { return rank_; }
  int size() const { return size_; }
  // This process's rank and rank count on its node, from the launcher's
  // environment (Open MPI, then Slurm); local_size() 0 when neither says.
  int local_rank() const;
  int local_size() const;

 private:
  MpiEnv() = default;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace driftrun
