#!/usr/bin/env bash
# dstar-bench and dstar-gguf synth -t from the command line, on the tiny synthetic model.
# usage: bench_cli_test.sh BENCH_BIN_DIR GGUF_BIN_DIR
# (Outputs go to files before grep: with pipefail, grep -q closing a pipe early would make
# the writer fail with SIGPIPE.)
set -uo pipefail
BENCH=$1/dstar-bench
GGUF=$2/dstar-gguf
. "$(dirname "$0")/check_lib.sh"

# --- dstar-gguf synth -t -------------------------------------------------------------------
"$GGUF" synth --preset tiny -t 1 --out "$T/tiny.gguf" > /dev/null 2>&1
"$GGUF" synth --preset tiny -t 3 --out "$T/tiny3.gguf" > /dev/null 2>&1
check "synth -t 1 and -t 3 write the same bytes" 'cmp -s "$T/tiny.gguf" "$T/tiny3.gguf"'
"$GGUF" synth --preset tiny -t lots --out "$T/x.gguf" > "$T/badt.txt" 2>&1; rc=$?
check "synth rejects a bad -t" '[ $rc -ne 0 ] && grep -q "thread count" "$T/badt.txt" && [ ! -e "$T/x.gguf" ]'

# --- dstar-bench sweep ----------------------------------------------------------------------
M=(-m "$T/tiny.gguf" --cpu -t 2)
"$BENCH" "${M[@]}" --random-prompt 9 --ctx-start 20 --ctx-max 70 --step-incr 20 --gen-tokens 3 \
    --csv "$T/sweep.csv" > "$T/sweep.out" 2> "$T/sweep.err"; rc=$?
check "sweep exits 0" '[ $rc -eq 0 ]'
check "CSV header is ds4-bench's" \
    '[ "$(head -n 1 "$T/sweep.csv")" = "ctx_tokens,prefill_tokens,prefill_tps,gen_tokens,gen_tps,kvcache_bytes" ]'
check "one row per frontier, the last at ctx-max" \
    '[ "$(tail -n +2 "$T/sweep.csv" | cut -d, -f1,2,4 | tr "\n" " ")" = "20,20,3 40,20,3 60,20,3 70,10,3 " ]'
check "rates have two decimals and KV bytes grow" \
    'awk -F, "NR>1 { if (\$3 !~ /^[0-9]+\\.[0-9][0-9]$/ || \$5 !~ /^[0-9]+\\.[0-9][0-9]$/ || \$6 <= last) bad=1; last=\$6 } END { exit bad }" "$T/sweep.csv"'
check "with --csv stdout stays empty" '[ ! -s "$T/sweep.out" ]'
check "stderr has the load split" 'grep -q "^summary load open_s=[0-9.]* upload_s=[0-9.]* first_token_s=[0-9.]* load_to_first_token_s=" "$T/sweep.err"'
check "stderr has a floor line per row" '[ "$(grep -c "^summary decode ctx_tokens=" "$T/sweep.err")" -eq 4 ]'

"$BENCH" "${M[@]}" --random-prompt 9 --ctx-start 32 --ctx-max 64 --step-mul 2 -n 2 --bandwidth 50 \
    > "$T/stdout.csv" 2> "$T/stdout.err"; rc=$?
check "without --csv the CSV is stdout" \
    '[ $rc -eq 0 ] && [ "$(wc -l < "$T/stdout.csv")" -eq 3 ] && [ "$(tail -n 1 "$T/stdout.csv" | cut -d, -f1,2,4)" = "64,32,2" ]'
check "--bandwidth gives the fraction of the floor" 'grep -q "floor_fraction=0\.[0-9]*" "$T/stdout.err"'

for i in $(seq 1 40); do echo "The quick brown fox jumps over the lazy dog, number $i."; done > "$T/text.txt"
"$BENCH" "${M[@]}" --chat-prompt-file "$T/text.txt" --ctx-start 64 --ctx-max 128 --step-incr 64 -n 2 \
    > "$T/chat.csv" 2> "$T/chat.err"; rc=$?
check "--chat-prompt-file sweeps" '[ $rc -eq 0 ] && [ "$(wc -l < "$T/chat.csv")" -eq 3 ]'
"$BENCH" "${M[@]}" --prompt-file "$T/text.txt" --ctx-start 64 --ctx-max 100000 -n 2 > /dev/null 2> "$T/short.err"; rc=$?
check "too short a text names the shortfall" '[ $rc -eq 1 ] && grep -q "need at least --ctx-max=100000" "$T/short.err"'

# --- flags ----------------------------------------------------------------------------------
"$BENCH" "${M[@]}" --random-prompt 1 --ctx-start 0 > /dev/null 2> "$T/bad1.err"; rc=$?
check "bad value: exit 2 naming the flag" '[ $rc -eq 2 ] && grep -q "invalid value for --ctx-start: .0." "$T/bad1.err"'
"$BENCH" "${M[@]}" --ctx-max 4096 > /dev/null 2> "$T/bad2.err"; rc=$?
check "sweep flag without a source: exit 2" '[ $rc -eq 2 ] && grep -q "is a sweep option" "$T/bad2.err"'
"$BENCH" -m "$T/missing.gguf" --cpu > /dev/null 2> "$T/bad3.err"; rc=$?
check "missing model: exit 1 with the path" '[ $rc -eq 1 ] && grep -q "missing.gguf" "$T/bad3.err"'
"$BENCH" --help > "$T/help.txt" 2>&1; rc=$?
check "--help documents the CSV" '[ $rc -eq 0 ] && grep -q "ctx_tokens,prefill_tokens" "$T/help.txt"'

# --- simple mode ----------------------------------------------------------------------------
"$BENCH" "${M[@]}" --prompt 40 --gen 4 > "$T/simple.out" 2> "$T/simple.err"; rc=$?
check "simple mode still reports prefill and decode" \
    '[ $rc -eq 0 ] && grep -q "^prefill: .*tokens/s" "$T/simple.out" && grep -q "^decode: .*tokens/s" "$T/simple.out"'

finish bench_cli_test
