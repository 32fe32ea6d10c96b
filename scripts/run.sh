#!/usr/bin/env bash
# The main job on a fresh Debian machine: installs dependencies, builds, and serves the model
# over HTTP (OpenAI and Anthropic APIs, see README.md).
#
#   scripts/run.sh [dstar-server options]          serve ./ds4flash.gguf (or -m FILE) on :8000
#   scripts/run.sh --demo [dstar-server options]   serve a small SYNTHETIC random-weight model
#   scripts/run.sh --chat [dstar options]          interactive chat in the terminal instead
#
# Without a model file it explains how to get the real one (scripts/download-model.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
BIN=${DSTAR_BUILD_DIR:-build}/src/cli

demo=0
tool=dstar-server
args=()
model=ds4flash.gguf
prev=""
for a in "$@"; do
  if [ "$a" = "--demo" ]; then demo=1; continue; fi
  if [ "$a" = "--chat" ]; then tool=dstar; continue; fi
  if [ "$prev" = "-m" ] || [ "$prev" = "--model" ]; then model=$a; fi
  args+=("$a")
  prev=$a
done

if [ "$demo" = 1 ]; then
  mkdir -p models
  demo_model=models/demo-tiny-SYNTHETIC.gguf
  [ -f "$demo_model" ] || "$BIN/dstar-gguf" synth --preset tiny --out "$demo_model"
  echo "*** DEMO: $demo_model has RANDOM weights. It runs the real DeepSeek V4 Flash code path"
  echo "*** (tokenizer, chat template, tool calls, KV cache) but its output is gibberish."
  echo "*** Get the real model with scripts/download-model.sh q2-imatrix."
  exec "$BIN/$tool" -m "$demo_model" "${args[@]}"
fi

if [ ! -e "$model" ]; then
  cat >&2 <<MSG
No model file '$model'.
  Real model (~81 GB download):  scripts/download-model.sh q2-imatrix   (then run this again)
  Synthetic demo model:          scripts/run.sh --demo    (serves random weights, clearly labelled)
MSG
  exit 1
fi
exec "$BIN/$tool" "${args[@]}"
