#!/usr/bin/env bash
# A/B speed of CUDA switches on a flash-width file (from the repository root, on the GPU
# machine, after bench/device/build_cuda.sh):
#   bench/device/ab_speed.sh [CARRY] [LAYERS] "ENV=V ..." "ENV=V ..." ...
# For each argument after LAYERS (one set of environment assignments; "-" for none), runs
# dstar-bench on the same file: decode at 512 tokens of context (64 generated) and an
# 8,192-token prefill in chunks of 2,048.  The file (flash shape, q2, LAYERS layers, default
# 4) is synthesised once under /tmp/dstar_kernel_profile (shared with kernel_profile.sh).
# Output: one line per setting and measurement, also in $OUT/ab_speed.txt.
set -u
C=${1:-build-cuda-carry}
LAYERS=${2:-4}
shift 2 || true
OUT=${OUT:-/tmp/dstar_ab_out}
W=/tmp/dstar_kernel_profile
mkdir -p "$OUT" "$W"
[ -x "$W/bin/dstar-bench" ] || tar -C "$W" -xJf "$C/bin.tar.xz"
TOK=$W/tokenizer.json
[ -f "$TOK" ] || xz -dc "$C/data/tokenizer.json.xz" > "$TOK"
F=$W/flash$LAYERS.gguf
[ -f "$F" ] || "$W/bin/dstar-gguf" synth --preset flash --layers "$LAYERS" --quant q2 --tokenizer "$TOK" --out "$F" > /dev/null
[ $# -gt 0 ] || set -- -
for setting in "$@"; do
    envs=()
    [ "$setting" = - ] || read -r -a envs <<< "$setting"
    for run in "512 64 256" "8192 16 2048"; do
        set -- $run
        line=$(env "${envs[@]}" "$W/bin/dstar-bench" --cuda -m "$F" --prompt "$1" --gen "$2" --ctx 16384 --chunk "$3" 2>&1 |
               grep -E '^(prefill|decode):' | tr '\n' ' ')
        echo "[$setting] prompt $1 chunk $3: $line"
    done
done | tee "$OUT/ab_speed.txt"
