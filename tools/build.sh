#!/usr/bin/env bash
# Configures and builds dsatrain into build/ (or $DSA_BUILD_DIR).
# Usage: tools/build.sh [cuda|nocuda] [target...]
#   cuda   : build the CUDA twin when nvcc exists (CMake's native CUDA language, sm_90 by default)
#   nocuda : CPU only (the quick-start on a machine without a GPU: faster to build)
#   targets: what to build (default: everything, tests included)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-cuda}
shift || true
targets=()
for target in "$@"; do targets+=(--target "$target"); done
build_dir=${DSA_BUILD_DIR:-build}

cuda_flag=OFF
if [[ "$mode" == cuda ]]; then
  if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
    export CUDACXX=/usr/local/cuda/bin/nvcc
  fi
  if command -v nvcc >/dev/null || [[ -n "${CUDACXX:-}" ]]; then cuda_flag=AUTO; fi
fi

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DDSA_CUDA="$cuda_flag" >/dev/null
if ! cmake --build "$build_dir" -j"$(nproc)" "${targets[@]}" >"$build_dir/build.log" 2>&1; then
  grep -E -B2 -A6 "error" "$build_dir/build.log" | head -60 >&2
  echo "build: failed; the whole log is $build_dir/build.log" >&2
  exit 1
fi
echo "build: $build_dir (CUDA twin: $cuda_flag)"
