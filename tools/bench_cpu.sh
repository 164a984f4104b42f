#!/usr/bin/env bash
# CPU throughput: dsatrain against PyTorch (tools/torch_ref.py) on the same model, same shard,
# same batch and steps, measured in one run (docs/design.md §7 "Benchmarks"). PyTorch runs in three
# threading settings and the fastest is the peer. Ends with exactly
#     ratio dsatrain/pytorch tokens_per_s: <r>
#
# Usage: tools/bench_cpu.sh
# Environment:
#   STEPS=10        timed steps (each side)          WARMUP=2   untimed steps before them
#   CONFIG=configs/quickstart.yaml                   THREADS=$(nproc)  threads for settings a, b
#   BUILD_DIR=build                                  SHARD=data/prepared/kjv/train_000000.bin
#   DSATRAIN=path   use this dsatrain binary as is (no build)
set -euo pipefail

die() { echo "bench_cpu: ERROR: $*" >&2; exit 1; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
STEPS=${STEPS:-10}
WARMUP=${WARMUP:-2}
CONFIG=${CONFIG:-configs/quickstart.yaml}
BUILD_DIR=${BUILD_DIR:-build}
SHARD=${SHARD:-data/prepared/kjv/train_000000.bin}
THREADS=${THREADS:-$(nproc)}
[[ "$STEPS" =~ ^[1-9][0-9]*$ ]] || die "STEPS must be a positive integer (got '$STEPS')"
[[ "$WARMUP" =~ ^[0-9]+$ ]] || die "WARMUP must be a non-negative integer (got '$WARMUP')"
[[ "$THREADS" =~ ^[1-9][0-9]*$ ]] || die "THREADS must be a positive integer (got '$THREADS')"
[ -f "$CONFIG" ] || die "config $CONFIG not found (set CONFIG=...)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench_cpu.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# ---- Python and the BLAS PyTorch will use ------------------------------------------------------
# shellcheck source=tools/pyenv.sh
source "$REPO/tools/pyenv.sh"
ensure_python_pkgs python3-torch python3-numpy libopenblas0-openmp python3-yaml ||
  die "could not install the Python packages (see above)"
PY=$DSA_PYTHON

# Debian picks libblas.so.3 through alternatives; on a fresh machine it can be the reference BLAS,
# ~30x slower than OpenBLAS. Say what the system points to, then run torch with the OpenMP build
# of OpenBLAS first on the library path, so the comparison holds either way.
alt=$(update-alternatives --query libblas.so.3-x86_64-linux-gnu 2>/dev/null |
      awk '/^Value:/ {print $2}') || true
case "$alt" in
  */blas/libblas.so.3)
    echo "bench_cpu: note: the system libblas.so.3 is the slow reference BLAS ($alt); this run"
    echo "  forces OpenBLAS through LD_LIBRARY_PATH. To fix it for everything:"
    echo "  update-alternatives --set libblas.so.3-x86_64-linux-gnu $DSA_OPENBLAS_DIR/libblas.so.3" ;;
  "") echo "bench_cpu: note: no libblas.so.3 alternative registered" ;;
  *) echo "bench_cpu: system libblas.so.3 -> $alt" ;;
esac
TORCH_LD_PATH=$(openblas_library_path) || die "OpenBLAS (OpenMP build) missing: apt-get install -y libopenblas0-openmp"
torch_blas=$(LD_LIBRARY_PATH=$TORCH_LD_PATH "$PY" -c '
import sys; sys.path.insert(0, "tools")
import torch_ref
print(torch_ref.blas_report("cpu")[0])') || die "could not start torch (see above)"
echo "bench_cpu: torch loads $torch_blas"
case "$torch_blas" in
  *openblas*) ;;
  *) die "torch does not run on OpenBLAS but on '$torch_blas'. Fix: apt-get install -y libopenblas0-openmp && update-alternatives --set libblas.so.3-x86_64-linux-gnu $DSA_OPENBLAS_DIR/libblas.so.3" ;;
esac

# ---- dsatrain ----------------------------------------------------------------------------------
if [ -n "${DSATRAIN:-}" ]; then
  DSA=$DSATRAIN
  [ -x "$DSA" ] || die "DSATRAIN=$DSA is not an executable"
else
  if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    echo "bench_cpu: configuring $BUILD_DIR (Release)"
    cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >"$WORK/cmake.log" 2>&1 ||
      { cat "$WORK/cmake.log" >&2; die "cmake configure failed"; }
  else
    build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt")
    [ "$build_type" = "Release" ] ||
      echo "bench_cpu: WARNING: $BUILD_DIR is a '${build_type:-default}' build, not Release: numbers will be low"
  fi
  echo "bench_cpu: building dsatrain in $BUILD_DIR"
  cmake --build "$BUILD_DIR" -j2 --target dsatrain >"$WORK/build.log" 2>&1 ||
    { tail -n 40 "$WORK/build.log" >&2; die "build failed (cmake --build $BUILD_DIR --target dsatrain)"; }
  DSA=$BUILD_DIR/dsatrain
fi

if [ ! -f "$SHARD" ]; then
  echo "bench_cpu: $SHARD missing: $DSA prepare --config $CONFIG"
  "$DSA" prepare --config "$CONFIG" || die "dsatrain prepare failed"
  [ -f "$SHARD" ] || die "dsatrain prepare did not write $SHARD (set SHARD=... if it lives elsewhere)"
fi

# ---- a busy machine makes every number here meaningless ----------------------------------------
cpu_idle_percent() {  # idle share of all CPUs over one second
  local a b
  read -r -a a < <(grep '^cpu ' /proc/stat)
  sleep 1
  read -r -a b < <(grep '^cpu ' /proc/stat)
  local total=0 i
  for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
  echo $(( total > 0 ? 100 * (b[4] - a[4] + b[5] - a[5]) / total : 100 ))
}
idle=$(cpu_idle_percent)
if [ "$idle" -lt 85 ]; then
  echo "bench_cpu: WARNING: the CPUs are only ${idle}% idle before the benchmark: other processes"
  echo "  compete for the cores and all numbers below are low and noisy; rerun on a quiet machine"
fi

# field VALUE from the last line of FILE starting with PREFIX: field FILE PREFIX KEY
field() {
  { grep -E "^$2" "$1" || true; } | tail -n 1 | tr ' ' '\n' | sed -n "s/^$3=//p"
}

# ---- the machine's sgemm ceiling ---------------------------------------------------------------
echo
echo "== dsatrain bench --gemm"
gemm_gflops="unavailable"
if "$DSA" bench --gemm 2>&1 | tee "$WORK/gemm.log"; then
  gemm_gflops=$(field "$WORK/gemm.log" "gemm: gflops=" gflops)
  [ -n "$gemm_gflops" ] || gemm_gflops="unavailable"
else
  echo "bench_cpu: WARNING: dsatrain bench --gemm failed"
fi

# ---- dsatrain ----------------------------------------------------------------------------------
echo
echo "== dsatrain bench --config $CONFIG --steps $STEPS --warmup $WARMUP"
"$DSA" bench --config "$CONFIG" --steps "$STEPS" --warmup "$WARMUP" 2>&1 | tee "$WORK/dsatrain.log" ||
  die "dsatrain bench failed (see above)"
dsa_tps=$(field "$WORK/dsatrain.log" "bench: tokens_per_s=" tokens_per_s)
dsa_ms=$(field "$WORK/dsatrain.log" "bench: tokens_per_s=" step_ms)
dsa_threads=$(field "$WORK/dsatrain.log" "bench: tokens_per_s=" threads)
dsa_blas=$(field "$WORK/dsatrain.log" "bench: tokens_per_s=" blas)
[ -n "$dsa_tps" ] || die "dsatrain bench printed no 'bench: tokens_per_s=<x> step_ms=<x> threads=<n> blas=<lib>' line"

# ---- PyTorch, three threading settings ---------------------------------------------------------
# a: THREADS threads, libgomp's default wait policy (spin a while, then sleep)
# b: THREADS threads, OMP_WAIT_POLICY=PASSIVE (sleep at once)
# c: one thread
run_torch() {  # run_torch NAME WAIT_POLICY THREADS
  local name=$1 policy=$2 threads=$3
  echo
  echo "== pytorch ($name): threads=$threads OMP_WAIT_POLICY=${policy:-(default)}"
  local env_args=(env -u OMP_WAIT_POLICY -u OMP_NUM_THREADS LD_LIBRARY_PATH="$TORCH_LD_PATH")
  [ -n "$policy" ] && env_args+=(OMP_WAIT_POLICY="$policy")
  "${env_args[@]}" "$PY" tools/torch_ref.py --config "$CONFIG" --data "$SHARD" \
      --steps "$STEPS" --warmup "$WARMUP" --threads "$threads" 2>&1 | tee "$WORK/torch_$name.log" ||
    die "tools/torch_ref.py ($name) failed"
  grep -q '^WARNING' "$WORK/torch_$name.log" && die "torch_ref ($name) warned about its BLAS (see above)"
  [ -n "$(field "$WORK/torch_$name.log" "torch_ref: tokens_per_s=" tokens_per_s)" ] ||
    die "torch_ref ($name) printed no final 'torch_ref: tokens_per_s=' line"
}
run_torch a "" "$THREADS"
run_torch b PASSIVE "$THREADS"
run_torch c "" 1

# ---- summary -----------------------------------------------------------------------------------
echo
echo "== summary: model and batch of $CONFIG, $STEPS timed steps after $WARMUP, shard $SHARD"
printf '%-36s %7s %10s %9s  %s\n' "run" "threads" "tokens/s" "step_ms" "blas"
printf '%-36s %7s %10s %9s  %s\n' "dsatrain" "${dsa_threads:-?}" "$dsa_tps" "${dsa_ms:-?}" "${dsa_blas:-?}"
best_name="" best_tps=0
for name in a b c; do
  log=$WORK/torch_$name.log
  tps=$(field "$log" "torch_ref: tokens_per_s=" tokens_per_s)
  case $name in
    a) label="pytorch (a) default wait policy" ;;
    b) label="pytorch (b) OMP_WAIT_POLICY=PASSIVE" ;;
    c) label="pytorch (c) one thread" ;;
  esac
  printf '%-36s %7s %10s %9s  %s\n' "$label" "$(field "$log" "torch_ref: tokens_per_s=" threads)" \
    "$tps" "$(field "$log" "torch_ref: tokens_per_s=" step_ms)" "$(field "$log" "torch_ref: tokens_per_s=" blas)"
  if awk -v x="$tps" -v y="$best_tps" 'BEGIN { exit !(x > y) }'; then
    best_name=$label best_tps=$tps
  fi
done
noisy=$(grep -l 'noisy, is the machine busy' "$WORK"/torch_*.log 2>/dev/null | sed 's/.*torch_\(.\)\.log/\1/' | tr '\n' ' ' || true)
[ -z "$noisy" ] || echo "bench_cpu: WARNING: pytorch setting(s) $noisy had a step 1.5x slower than their median: the machine was busy, rerun"
echo "machine sgemm ceiling (dsatrain bench --gemm): $gemm_gflops GFLOP/s"
echo "peer: $best_name, $best_tps tokens/s"
awk -v d="$dsa_tps" -v p="$best_tps" 'BEGIN {
  if (p <= 0) { print "bench_cpu: ERROR: peer tokens/s is zero" > "/dev/stderr"; exit 1 }
  printf "ratio dsatrain/pytorch tokens_per_s: %.2f\n", d / p }'
