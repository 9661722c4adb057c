// main() for GoogleTest executables that CTest starts under mpirun: MPI_Init
// around the tests, and every rank must pass (the worst result of all ranks is
// the exit code).
#include <gtest/gtest.h>
#include <mpi.h>

#include "comm/mpi_communicator.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  driftrun::SetMpiDefaults();  // as driftrun runs
  MPI_Init(&argc, &argv);
  int rc = RUN_ALL_TESTS();
  int worst = rc;
  MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return worst;
}
