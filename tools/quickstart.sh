#!/usr/bin/env bash
# The main job (README): set-up, build, prepare the KJV corpus, train configs/quickstart.yaml,
# print a sample, and end with the final evaluation line. The CUDA twin is built only when a GPU
# is present, so that a CPU-only machine builds fast.
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-configs/quickstart.yaml}

tools/setup.sh
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  tools/build.sh cuda dsatrain
else
  tools/build.sh nocuda dsatrain
fi
dsatrain=${DSA_BUILD_DIR:-build}/dsatrain

"$dsatrain" prepare --config "$config"
log=$(mktemp)
"$dsatrain" train --config "$config" | tee "$log"
checkpoint=$(sed -n 's/^checkpoint: //p' "$log")
final=$(grep '^final:' "$log")
rm -f "$log"

echo
echo "sample (seed 1, temperature 0.8, top-p 0.95):"
"$dsatrain" sample --checkpoint "$checkpoint" --prompt "And God said" --tokens 120
echo
echo "$final"
