#!/usr/bin/env bash
# The test command (README): set-up, build into build/ (the emulated CUDA twin always; the GPU twin
# too when nvcc exists, so a kernel that does not compile fails here), then every GoogleTest case
# through ctest: the CPU suites, then the CUDA suites (label "cuda") — on the GPU when this machine
# has one, else on the emulated device (docs/gpu.md). Ends with one line for the CUDA suites,
#   cuda tests on the emulated device: <n> passed, <m> failed, <s> skipped
# ("on the GPU" there), their share of the test time, and the whole command's wall time.
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
tools/setup.sh || exit 1
tools/build.sh cuda || exit 1
build_dir=${DSA_BUILD_DIR:-build}
cd "$build_dir" || exit 1

# run_ctest LOG CTEST-ARGS...: one ctest run, shown and kept in LOG; sets RC and SECONDS_TAKEN.
run_ctest() {
  local log=$1
  shift
  local t0
  t0=$(date +%s.%N)
  ctest --output-on-failure -j"$(nproc)" --timeout 1200 "$@" 2>&1 | tee "$log"
  RC=${PIPESTATUS[0]}
  SECONDS_TAKEN=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.0f", b - a}')
}

run_ctest ctest_cpu.log -LE cuda
cpu_rc=$RC cpu_s=$SECONDS_TAKEN
run_ctest ctest_cuda.log -L cuda
cuda_rc=$RC cuda_s=$SECONDS_TAKEN

# The CUDA line: ctest's "N% tests passed, F tests failed out of T" and its list of skipped tests.
total=$(sed -n 's/.* tests failed out of \([0-9][0-9]*\).*/\1/p' ctest_cuda.log | tail -n1)
failed=$(sed -n 's/.* \([0-9][0-9]*\) tests failed out of .*/\1/p' ctest_cuda.log | tail -n1)
skipped=$(grep -c '(Skipped)' ctest_cuda.log || true)
total=${total:-0} failed=${failed:-0}
passed=$((total - failed - skipped))
if ./dsatrain devices | grep -q '^cuda twin: emulated device'; then where="the emulated device"; else where="the GPU"; fi
echo "cuda tests on $where: $passed passed, $failed failed, $skipped skipped"
awk -v c="$cuda_s" -v p="$cpu_s" -v w="$(($(date +%s) - start))" 'BEGIN {
  printf "test time: CUDA suites %d s of %d s (%.0f%%); tools/test.sh took %d s in all\n", c, c + p, 100 * c / (c + p), w }'
((cpu_rc == 0 && cuda_rc == 0))
