#!/usr/bin/env bash
# The main job on a fresh Debian machine: installs dependencies, builds, and runs the model.
#
#   scripts/run.sh [dstar options]      chat with ./ds4flash.gguf (or -m FILE)
#   scripts/run.sh --demo [options]     chat with a small SYNTHETIC random-weight model
#
# Without a model file it explains how to get the real one (scripts/download-model.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
BIN=${DSTAR_BUILD_DIR:-build}/src/cli

demo=0
args=()
model=ds4flash.gguf
prev=""
for a in "$@"; do
  if [ "$a" = "--demo" ]; then demo=1; continue; fi
  if [ "$prev" = "-m" ] || [ "$prev" = "--model" ]; then model=$a; fi
  args+=("$a")
  prev=$a
done

if [ "$demo" = 1 ]; then
  mkdir -p models
  demo_model=models/demo-tiny-SYNTHETIC.gguf
  [ -f "$demo_model" ] || "$BIN/dstar-gguf" synth --preset tiny --out "$demo_model"
  echo "*** DEMO: $demo_model has RANDOM weights. It runs the real DeepSeek V4 Flash code path"
  echo "*** but its output is gibberish. Get the real model with scripts/download-model.sh q2-imatrix."
  exec "$BIN/dstar" -m "$demo_model" "${args[@]}"
fi

if [ ! -e "$model" ]; then
  cat >&2 <<MSG
No model file '$model'.
  Real model (~81 GB download):  scripts/download-model.sh q2-imatrix   (then run this again)
  Synthetic demo model:          scripts/run.sh --demo
MSG
  exit 1
fi
exec "$BIN/dstar" "${args[@]}"
