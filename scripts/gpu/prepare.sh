#!/usr/bin/env bash
# Run HERE (not on the GPU machine) before scripts/gpu/check.sh: collects what the
# GPU machine lacks (Open MPI, HDF5, gflags, toml++, nlohmann-json, GoogleTest:
# headers, libraries and their dependencies from this machine's Debian packages)
# into .gpu/sysroot, which the device call carries. Needs a CPU build (build/) to
# know the libraries driftrun links. Prints the folder's size (carry limit 64 MiB).
set -euo pipefail
cd "$(dirname "$0")/../.."
[[ -x build/driftrun ]] || { echo "build first: bash scripts/build.sh"; exit 1; }
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>.git/info/exclude
R=.gpu/sysroot
rm -rf "$R"
mkdir -p "$R/usr/lib"
ln -s usr/lib "$R/lib" # merged /usr, as on Debian: ldd's /lib/... and /usr/lib/... are one folder
copy() { for p in "$@"; do [[ -e $p ]] && mkdir -p "$R$(dirname "$p")" && cp -a "$p" "$R$(dirname "$p")/"; done; }
L=/usr/lib/x86_64-linux-gnu
# Headers, pkg-config and CMake package files.
copy /usr/include/hdf5 /usr/include/gflags /usr/include/toml++ /usr/include/nlohmann /usr/include/gtest \
  /usr/include/gmock /usr/include/sqlite3.h /usr/include/sqlite3ext.h $L/openmpi/include \
  /usr/include/httplib.h $L/pkgconfig/cpp-httplib.pc \
  $L/pkgconfig/openssl.pc $L/pkgconfig/libssl.pc $L/pkgconfig/libcrypto.pc $L/pkgconfig/zlib.pc \
  $L/pkgconfig/libbrotlicommon.pc $L/pkgconfig/libbrotlidec.pc $L/pkgconfig/libbrotlienc.pc \
  /usr/include/openssl /usr/include/zlib.h /usr/include/zconf.h /usr/include/brotli \
  $L/pkgconfig/gflags.pc $L/pkgconfig/tomlplusplus.pc /usr/share/pkgconfig/tomlplusplus.pc \
  /usr/share/cmake/nlohmann_json $L/cmake/GTest
# OpenSSL's per-architecture headers, merged into the sysroot's openssl/ (cpp-httplib includes them).
cp -a /usr/include/x86_64-linux-gnu/openssl/. "$R/usr/include/openssl/"
# Libraries driftrun links (and what they need), minus glibc/libstdc++ and CUDA/torch.
libs=$(ldd build/driftrun build/tests/trainers_test build/driftrun-export | awk '/=> \//{print $3}' | sort -u |
  grep -v -E 'libc\.so|libm\.so|libpthread|libdl\.so|librt\.so|libresolv|libutil|libgcc_s|libstdc\+\+|/usr/local/cuda|\.venv' || true)
for lib in $libs; do
  real=$(readlink -f "$lib")
  copy "$real"
  [[ $(basename "$real") == $(basename "$lib") ]] || ln -sf "$(basename "$real")" "$R/usr$lib" 2>/dev/null ||
    ln -sf "$(basename "$real")" "$R$lib" 2>/dev/null || true
done
# Link-time names (.so) and static GoogleTest.
for so in libmpi.so libsqlite3.so libhdf5_serial.so libgflags.so libtomlplusplus.so libcpp-httplib.so libssl.so libcrypto.so libz.so libbrotlicommon.so libbrotlidec.so libbrotlienc.so libgtest.a libgtest_main.a libgmock.a libgmock_main.a; do
  copy $L/$so
  # Link names point through /etc/alternatives (libmpi.so): point them at the copied library instead.
  [[ -L $L/$so ]] && ln -sf "$(basename "$(readlink -f $L/$so)")" "$R$L/$so"
done
copy $L/hdf5/serial/libhdf5.so $L/hdf5/serial/include
copy $L/openmpi/lib $L/openmpi/include /usr/share/openmpi /etc/openmpi
# mpirun (orterun) and its daemon, for the pool executor's check (scripts/gpu/pool_gpu.py).
mkdir -p "$R/usr/bin"
cp -L /usr/bin/orterun "$R/usr/bin/mpirun"
cp -L /usr/bin/orted "$R/usr/bin/orted"
# driftrun-export (no LibTorch, no CUDA): the GPU machine lacks libonnx to build it, and the
# service registers every trained version with its ONNX file (scripts/gpu/pool_gpu.py).
cp build/driftrun-export .gpu/driftrun-export && strip .gpu/driftrun-export
du -sh "$R"
