#!/usr/bin/env bash
# Builds the prebuilt GPU bundle .carry/gpu/ HERE, on a CPU machine with nvcc (docs/gpu.md): the GPU
# machine has nvcc and cmake but none of our libraries (no yaml-cpp, OpenBLAS, GoogleTest) and no
# network, and its minutes are scarce, so it gets finished binaries:
#
#   .carry/gpu/bin/      dsatrain and the GPU test executables (test_cuda_*), stripped
#   .carry/gpu/lib/      the non-system shared libraries they need (ldd), xz-compressed when large;
#                        tools/gpu_check.sh unpacks them into /tmp on the GPU machine
#   .carry/gpu/data/kjv  the prepared KJV corpus (tokenizer + shards) for the short training run
#   .carry/gpu/COMMIT    git rev-parse HEAD, plus "dirty" when the tree has changes
#   .carry/gpu/MANIFEST  what was built, how, from which tree (a hash gpu_check.sh re-checks)
#
# Then, in one device call: tools/gpu_check.sh "$OUT" with carry [".carry"].
# Usage: tools/gpu_build.sh            (JOBS=2, at most 2 on the shared CPU machines)
set -euo pipefail
cd "$(dirname "$0")/.."

# ---- choices ------------------------------------------------------------------------------------
# CPU BLAS of the bundle: "openblas" ships Debian's libopenblas.so.0 (36.5 MB, 4.2 MB as .xz);
# "builtin" asks CMake for the built-in GEMM (-DDSA_CPU_BLAS=builtin, once CMakeLists.txt has it).
CPU_BLAS=${DSA_GPU_BLAS:-openblas}
BUILD_DIR=${DSA_GPU_BUILD_DIR:-build-gpu}
BUNDLE=.carry/gpu
LIMIT_MIB=${DSA_GPU_LIMIT_MIB:-60}     # working tree + .carry must stay under the 64 MiB transfer limit
JOBS=${JOBS:-2}
CUDA_ARCHS=90
XZ_OVER_BYTES=$((1 << 20))             # libraries larger than this travel xz-compressed
EXPECTED_TESTS=(test_cuda_ops test_cuda_attention test_cuda_dsa test_cuda_step test_cuda_ceilings)
# Libraries the GPU machine has itself (the C runtime, the compiler runtime, the CUDA libraries,
# the driver): never bundled.
SYSTEM_LIBS='^(linux-vdso|ld-linux|libc\.|libm\.|libpthread|libdl\.|librt\.|libstdc\+\+|libgcc_s|libcuda\.|libcudart|libcublas|libcublasLt|libnvidia|libnvrtc|libnvJitLink)'

say() { echo "gpu_build: $*"; }
die() { echo "gpu_build: error: $*" >&2; exit 1; }

# ---- configure and build ------------------------------------------------------------------------
export CUDACXX=${CUDACXX:-/usr/local/cuda/bin/nvcc}
[[ -x "$CUDACXX" ]] || die "no nvcc at $CUDACXX (set CUDACXX)"
cmake_args=(-DDSA_CUDA=ON -DDSA_CUDA_ARCHS="$CUDA_ARCHS" -DCMAKE_BUILD_TYPE=Release)
case "$CPU_BLAS" in
  openblas) cmake_args+=(-UDSA_CPU_BLAS) ;;   # back to CMake's default if an earlier run set it
  builtin) cmake_args+=(-DDSA_CPU_BLAS=builtin) ;;
  *) die "DSA_GPU_BLAS must be openblas or builtin, not '$CPU_BLAS'" ;;
esac
say "configuring $BUILD_DIR (${cmake_args[*]})"
mkdir -p "$BUILD_DIR"
cmake -S . -B "$BUILD_DIR" "${cmake_args[@]}" >"$BUILD_DIR/gpu_configure.log" 2>&1 ||
  { tail -n 30 "$BUILD_DIR/gpu_configure.log" >&2; die "cmake configure failed ($BUILD_DIR/gpu_configure.log)"; }

targets=(dsatrain)
tests_built=()
for source in tests/test_cuda_*.cpp; do
  [[ -e "$source" ]] || continue
  name=$(basename "$source" .cpp)
  [[ "$name" == test_cuda_emu ]] && continue   # the emulator's self-tests: CPU-only, CI runs them
  targets+=("$name")
  tests_built+=("$name")
done
for name in "${EXPECTED_TESTS[@]}"; do
  [[ -e "tests/$name.cpp" ]] || say "warning: tests/$name.cpp does not exist yet: gpu_check.sh will report it as not built"
done
say "building ${targets[*]} (-j$JOBS; log $BUILD_DIR/gpu_build.log)"
build_args=()
for target in "${targets[@]}"; do build_args+=(--target "$target"); done
if ! cmake --build "$BUILD_DIR" -j"$JOBS" "${build_args[@]}" >"$BUILD_DIR/gpu_build.log" 2>&1; then
  grep -E -B2 -A6 "error" "$BUILD_DIR/gpu_build.log" | head -60 >&2
  die "build failed; the whole log is $BUILD_DIR/gpu_build.log"
fi

# ---- the bundle ---------------------------------------------------------------------------------
mkdir -p "$BUNDLE"
rm -rf "$BUNDLE/bin" "$BUNDLE/data" "$BUNDLE/COMMIT" "$BUNDLE/MANIFEST"
mkdir -p "$BUNDLE/bin" "$BUNDLE/lib" "$BUNDLE/data"
for target in "${targets[@]}"; do
  cp "$BUILD_DIR/$target" "$BUNDLE/bin/$target"
  # Host symbols stay (compute-sanitizer backtraces name our functions); debug info goes. The
  # device code keeps its -lineinfo (ncu source view).
  strip --strip-debug "$BUNDLE/bin/$target"
done

# Shared libraries: whatever ldd resolves for any bundled binary, minus the system's own.
declare -A wanted=()
for binary in "$BUNDLE"/bin/*; do
  while read -r soname arrow path _; do
    [[ "$arrow" == "=>" && -n "$path" && "$path" != "not" ]] || continue
    [[ "$soname" =~ $SYSTEM_LIBS ]] && continue
    wanted[$soname]=$path
  done < <(ldd "$binary")
  if ldd "$binary" | grep -q "not found"; then
    ldd "$binary" | grep "not found" >&2
    die "$binary has unresolved libraries here"
  fi
done
if [[ "$CPU_BLAS" == builtin && -n "${wanted[libopenblas.so.0]+x}" ]]; then
  say "warning: DSA_CPU_BLAS=builtin had no effect (CMakeLists.txt does not know it yet): the bundle still carries OpenBLAS"
fi
# Drop libraries of an earlier bundle that are no longer needed.
for old in "$BUNDLE"/lib/*; do
  [[ -e "$old" ]] || continue
  base=$(basename "$old"); base=${base%.xz}; base=${base%.sha256}
  [[ -n "${wanted[$base]+x}" ]] || rm -f "$old"
done
for soname in $(printf '%s\n' "${!wanted[@]}" | sort); do
  path=$(readlink -f "${wanted[$soname]}")
  sum=$(sha256sum "$path" | cut -d' ' -f1)
  if [[ $(stat -c %s "$path") -gt $XZ_OVER_BYTES ]]; then
    # xz -9e takes ~15 s for OpenBLAS: reuse the earlier bundle's copy when the source is unchanged.
    if [[ -f "$BUNDLE/lib/$soname.xz" && "$(cat "$BUNDLE/lib/$soname.sha256" 2>/dev/null)" == "$sum" ]]; then
      say "lib: $soname.xz (unchanged)"
    else
      rm -f "$BUNDLE/lib/$soname"
      xz -9e -T1 -c "$path" >"$BUNDLE/lib/$soname.xz"
      echo "$sum" >"$BUNDLE/lib/$soname.sha256"
      say "lib: $soname.xz ($(stat -c %s "$path") bytes -> $(stat -c %s "$BUNDLE/lib/$soname.xz"))"
    fi
  else
    rm -f "$BUNDLE/lib/$soname.xz" "$BUNDLE/lib/$soname.sha256"
    cp "$path" "$BUNDLE/lib/$soname"
    say "lib: $soname ($(stat -c %s "$path") bytes)"
  fi
done

# The prepared KJV corpus (tokenizer + shards) for the short training run and the HF check.
if [[ ! -f data/prepared/kjv/train_000000.bin || ! -f data/prepared/kjv/tokenizer.dsatok ]]; then
  say "data/prepared/kjv missing: preparing it (dsatrain prepare --config configs/quickstart.yaml)"
  "$BUILD_DIR/dsatrain" prepare --config configs/quickstart.yaml
fi
cp -r data/prepared/kjv "$BUNDLE/data/kjv"

# Provenance: the commit, and a hash of the sources that gpu_check.sh recomputes on the GPU machine
# (the .git folder does not travel) to tell a stale bundle from a current one.
commit=$(git rev-parse HEAD)
changes=$(git status --porcelain --untracked-files=normal -- . ':(exclude).carry' | head -40)
{ echo "$commit${changes:+ dirty}"; [[ -n "$changes" ]] && echo "$changes"; } >"$BUNDLE/COMMIT"
# The same command is in tools/gpu_check.sh: keep them equal.
tree_hash=$(find src cuda tests CMakeLists.txt -type f ! -name '*.pyc' -print0 | LC_ALL=C sort -z |
            xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
{
  echo "built: $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(hostname)"
  echo "commit: $(head -n1 "$BUNDLE/COMMIT")"
  echo "source_dir: $PWD"
  echo "tree_hash: $tree_hash"
  echo "cmake: ${cmake_args[*]}"
  echo "cpu_blas: $CPU_BLAS"
  echo "nvcc: $("$CUDACXX" --version | tail -n1)"
  echo "binaries: ${targets[*]}"
  echo "expected_tests: ${EXPECTED_TESTS[*]}"
  echo "libraries: $(cd "$BUNDLE/lib" && ls | grep -v '\.sha256$' | tr '\n' ' ')"
} >"$BUNDLE/MANIFEST"

# ---- size ---------------------------------------------------------------------------------------
# What a device call sends: tracked and untracked-not-ignored files, plus the carried .carry/.
# (stat fails on files deleted but still in the index: they do not travel either.)
tree_bytes=$({ git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null || true; } |
             awk '{s += $1} END {print s + 0}')
carry_bytes=$(du -sb .carry | cut -f1)
bundle_bytes=$(du -sb "$BUNDLE" | cut -f1)
total=$((tree_bytes + carry_bytes))
mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
say "bin:  $(mib "$(du -sb "$BUNDLE/bin" | cut -f1)") ($(cd "$BUNDLE/bin" && ls | tr '\n' ' '))"
say "lib:  $(mib "$(du -sb "$BUNDLE/lib" | cut -f1)")"
say "data: $(mib "$(du -sb "$BUNDLE/data" | cut -f1)")"
say "bundle $(mib "$bundle_bytes"); .carry $(mib "$carry_bytes"); tree $(mib "$tree_bytes"); total sent $(mib "$total") (limit $LIMIT_MIB MiB of the 64)"
say "commit $(head -n1 "$BUNDLE/COMMIT")"
if ((total > LIMIT_MIB * 1048576)); then
  die "tree + .carry is $(mib "$total"), over $LIMIT_MIB MiB: DSA_GPU_BLAS=builtin drops OpenBLAS, or remove other things from .carry/"
fi
say "ok: run tools/gpu_check.sh \"\$OUT\" on the GPU machine with carry [\".carry\"]"
