# shellcheck shell=bash
# Shared helper for the Python tools (source it; do not run it).
#
# Python tools run on Debian's interpreter, /usr/bin/python3, with Debian's packages (docs/design.md §1):
# the `python3` first on PATH may be another interpreter that lacks them.
#
#   source tools/pyenv.sh
#   ensure_python_pkgs python3-torch python3-numpy libopenblas0-openmp
#
# ensure_python_pkgs installs (apt-get) the Debian packages that are missing and says nothing when
# all of them are already installed. It needs root (or sudo) only when something is missing.

# shellcheck disable=SC2034  # used by the scripts that source this file
DSA_PYTHON=/usr/bin/python3

# The default set every Python tool needs.
DSA_PYTHON_PKGS=(python3-torch python3-numpy libopenblas0-openmp)

ensure_python_pkgs() {
  local pkgs=("$@")
  if [ ${#pkgs[@]} -eq 0 ]; then pkgs=("${DSA_PYTHON_PKGS[@]}"); fi
  local missing=() p status
  for p in "${pkgs[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
      *" installed") ;;
      *) missing+=("$p") ;;
    esac
  done
  [ ${#missing[@]} -eq 0 ] && return 0

  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      echo "pyenv: missing Debian packages: ${missing[*]}; install them as root:" >&2
      echo "  apt-get install -y ${missing[*]}" >&2
      return 1
    fi
  fi
  echo "pyenv: installing ${missing[*]} (apt-get)" >&2
  if ! DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "${missing[@]}" >&2; then
    echo "pyenv: apt-get install failed; refreshing the package lists and retrying" >&2
    if ! { DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get update -q >&2 &&
           DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "${missing[@]}" >&2; }; then
      echo "pyenv: could not install ${missing[*]}" >&2
      return 1
    fi
  fi
}

# The OpenMP build of OpenBLAS as Debian installs it. Its directory holds a libblas.so.3 and a
# liblapack.so.3; putting it first on LD_LIBRARY_PATH makes Debian's python3-torch load OpenBLAS
# whatever the libblas.so.3 alternative points to (the reference BLAS is ~30x slower).
DSA_OPENBLAS_DIR=/usr/lib/x86_64-linux-gnu/openblas-openmp

# Prints the LD_LIBRARY_PATH value that puts OpenBLAS (OpenMP build) first; fails if it is absent.
openblas_library_path() {
  if [ ! -e "$DSA_OPENBLAS_DIR/libblas.so.3" ]; then
    echo "pyenv: $DSA_OPENBLAS_DIR/libblas.so.3 not found (install libopenblas0-openmp)" >&2
    return 1
  fi
  echo "$DSA_OPENBLAS_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}
