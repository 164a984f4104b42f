#!/usr/bin/env bash
# The test command (README): set-up, build into build/ (with the CUDA twin whenever nvcc exists,
# so a kernel that does not compile fails here), then every GoogleTest case through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh cuda
cd "${DSA_BUILD_DIR:-build}"
ctest --output-on-failure -j"$(nproc)" --timeout 1200
