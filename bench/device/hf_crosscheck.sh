#!/usr/bin/env bash
# Cross-check of dstar's CPU forward pass against Hugging Face transformers'
# DeepseekV4ForCausalLM on random models (run on the device machine, which has PyTorch and
# transformers; CI has neither).  See hf_crosscheck.py for what is compared.
#
#   bench/device/build_static.sh                      # here: static tools into build-dev/bin
#   bench/device/hf_crosscheck.sh build-dev/bin       # there (device tool: carry build-dev/bin)
#
# Writes hf_crosscheck.json and hf_crosscheck.md to $OUT (or the second argument).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-build-dev/bin}
DEST=${2:-${OUT:-/tmp/hf_crosscheck_out}}
mkdir -p "$DEST"
export PYTHONUNBUFFERED=1
python3 bench/device/hf_crosscheck.py --bin "$BIN" --out "$DEST" --work "${WORK:-/tmp/hf_crosscheck_work}"
