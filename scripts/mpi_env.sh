# Sourced by the scripts that start mpirun: Open MPI 4 refuses to run as root and
# to place more ranks than cores unless told (Open MPI 4.1: --allow-run-as-root and --oversubscribe as environment variables).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
