#!/usr/bin/env bash
# Installs the Debian packages that building, training and testing dsatrain need. Idempotent and
# quiet when everything is present. Tool-only Python packages (python3-torch, python3-numpy) are
# installed by the tools that need them (tools/pyenv.sh), not here.
set -euo pipefail

packages=(
  cmake g++ make              # the build
  libyaml-cpp-dev             # configs
  libgtest-dev                # tests
  libboost-context-dev        # the emulated GPU's fibers (cuda/emu/)
  libopenblas-openmp-dev      # CPU GEMMs: the OpenMP build, one thread pool with our ops (docs/design.md §7)
  bible-kjv                   # the default corpus
)

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq >/dev/null
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
