#!/usr/bin/env bash
# Per-kernel GPU time and DRAM bytes of CUDA decode steps (ncu, clocks left alone), from
# the repository root on the GPU machine, after bench/device/build_cuda.sh:
#   [PROMPT=N GEN=N CHUNK=N SKIP=N COUNT=N] bench/device/kernel_profile.sh [CARRY] [LAYERS]
# Synthesises a flash-width q2 file of LAYERS (default 2) layers, runs a short prefill and
# a few decode steps under ncu and writes $OUT/kernels.csv (one row per kernel launch) and
# $OUT/kernels_summary.txt (per kernel name: launches, mean us, GB/s from DRAM).
set -u
C=${1:-build-cuda-carry}
LAYERS=${2:-2}
OUT=${OUT:-/tmp/dstar_kernel_profile_out}
W=/tmp/dstar_kernel_profile
mkdir -p "$OUT" "$W"
tar -C "$W" -xJf "$C/bin.tar.xz"
TOK=$W/tokenizer.json
xz -dc "$C/data/tokenizer.json.xz" > "$TOK"
F=$W/flash$LAYERS.gguf
[ -f "$F" ] || "$W/bin/dstar-gguf" synth --preset flash --layers "$LAYERS" --quant q2 --tokenizer "$TOK" --out "$F" > /dev/null
# Graphs off: ncu then sees each launch with its own name; warm-up (prefill and 4 decode
# steps) skipped with --launch-skip.
DSTAR_CUDA_GRAPHS=0 timeout 400 ncu --clock-control none --csv --page raw --print-units base \
    --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,launch__grid_size,launch__block_size,launch__registers_per_thread \
    --launch-skip "${SKIP:-400}" --launch-count "${COUNT:-300}" \
    "$W/bin/dstar-bench" --cuda -m "$F" --prompt "${PROMPT:-16}" --gen "${GEN:-16}" --chunk "${CHUNK:-256}" > "$OUT/kernels.csv" 2> "$OUT/ncu.err"
python3 - "$OUT/kernels.csv" > "$OUT/kernels_summary.txt" <<'PY'
import csv, sys, collections
rows = [r for r in csv.reader(open(sys.argv[1])) if r]
hdr_i = next(i for i, r in enumerate(rows) if "Kernel Name" in r)
hdr = rows[hdr_i]
data = [r for r in rows[hdr_i + 1:] if len(r) == len(hdr)]
col = {n: i for i, n in enumerate(hdr)}
agg = collections.defaultdict(lambda: [0, 0.0, 0.0, 0.0, "", ""])
for r in data:
    try:
        num = lambda k: float(r[col[k]].replace(",", ""))
        t = num("gpu__time_duration.sum"); br = num("dram__bytes_read.sum"); bw = num("dram__bytes_write.sum")
    except (ValueError, KeyError, IndexError):
        continue
    name = r[col["Kernel Name"]][:90]
    a = agg[name]; a[0] += 1; a[1] += t; a[2] += br; a[3] += bw; a[4] = r[col["Grid Size"]].replace(" ", ""); a[5] = r[col["launch__registers_per_thread"]] if "launch__registers_per_thread" in col else "?"
tot = sum(a[1] for a in agg.values())
print("time unit as reported by ncu (ns); total %.1f us over %d kernels" % (tot / 1e3, sum(a[0] for a in agg.values())))
print("%-90s %6s %10s %7s %9s %8s %6s %4s" % ("kernel", "calls", "mean_us", "share", "MB_read", "GB/s", "grid", "regs"))
for name, a in sorted(agg.items(), key=lambda kv: -kv[1][1]):
    n, t, br, bw = a[0], a[1], a[2], a[3]
    print("%-90s %6d %10.2f %6.1f%% %9.2f %8.0f %6s %4s" % (name, n, t / n / 1e3, 100 * t / tot, br / n / 1e6, (br + bw) / t if t else 0, a[4], a[5]))
PY
head -5 "$OUT/ncu.err"
cat "$OUT/kernels_summary.txt"
