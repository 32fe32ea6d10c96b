#!/usr/bin/env bash
# One device call after a CUDA change (from the repository root, carry build-cuda-carry):
# the correctness checks (cuda_check.sh), a decode and a prefill per-kernel profile
# (kernel_profile.sh) on the files cuda_check.sh synthesised, and decode speed of the 4-layer
# file at short context and past the indexer's 2,048-token threshold in a 32K context.
# Output under $OUT: cuda_check's files, prof_decode/, prof_prefill/, speed.txt.
set -u
C=${1:-build-cuda-carry}
OUT=${OUT:-/tmp/dstar_check_profile_out}
mkdir -p "$OUT"
OUT=$OUT bench/device/cuda_check.sh "$C"
RC=$?
CC=/tmp/dstar_cuda_check
mkdir -p /tmp/dstar_kernel_profile
for l in 2 4; do ln -sf "$CC/flash$l.gguf" "/tmp/dstar_kernel_profile/flash$l.gguf"; done
OUT=$OUT/prof_decode bench/device/kernel_profile.sh "$C" 2 > /dev/null 2>&1
PROMPT=4096 GEN=1 CHUNK=4096 SKIP=0 COUNT=1500 OUT=$OUT/prof_prefill bench/device/kernel_profile.sh "$C" 4 > /dev/null 2>&1
{
    for p in "512 256" "4096 2048"; do
        set -- $p
        echo "=== flash4 --prompt $1 --gen 64 --ctx 32768 --chunk $2"
        "$CC/bin/dstar-bench" --cuda -m "$CC/flash4.gguf" --prompt "$1" --gen 64 --ctx 32768 --chunk "$2" 2>&1 | grep -v '^summary'
    done
} > "$OUT/speed.txt" 2>&1
cat "$OUT/speed.txt"
head -14 "$OUT/prof_decode/kernels_summary.txt" | cut -c1-170
head -16 "$OUT/prof_prefill/kernels_summary.txt" | cut -c1-170
exit $RC
