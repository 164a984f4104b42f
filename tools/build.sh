#!/usr/bin/env bash
# Configures and builds dsatrain into build/ (or $DSA_BUILD_DIR). Usage: tools/build.sh [cuda|nocuda]
#   cuda   : build the CUDA twin when nvcc exists (CMake's native CUDA language, sm_90 by default)
#   nocuda : CPU only (the quick-start on a machine without a GPU: faster to build)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-cuda}
build_dir=${DSA_BUILD_DIR:-build}

cuda_flag=OFF
if [[ "$mode" == cuda ]]; then
  if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
    export CUDACXX=/usr/local/cuda/bin/nvcc
  fi
  if command -v nvcc >/dev/null || [[ -n "${CUDACXX:-}" ]]; then cuda_flag=AUTO; fi
fi

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DDSA_CUDA="$cuda_flag" >/dev/null
cmake --build "$build_dir" -j"$(nproc)" 2>&1 | grep -E "error|warning: unused|^make.*Error" || true
# grep hides the progress lines; the build's own status decides
cmake --build "$build_dir" -j"$(nproc)" >/dev/null
echo "build: $build_dir (CUDA twin: $cuda_flag)"
