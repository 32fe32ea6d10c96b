#!/usr/bin/env bash
# End-to-end tests of the command-line tools: dstar-gguf synth/info and dstar.
# usage: cli_test.sh BIN_DIR SHARED_DIR
# (Outputs go to files before grep -q: with pipefail, grep -q closing a pipe early would
# make the writer fail with SIGPIPE.)
set -uo pipefail
BIN=$1
SHARED=$2
DSTAR=$BIN/dstar
GGUF=$BIN/dstar-gguf
ORACLE=$SHARED/testdata/ds4-oracle
. "$(dirname "$0")/check_lib.sh"

# --- dstar-gguf -------------------------------------------------------------------------
"$GGUF" synth --preset tiny --out "$T/tiny.gguf" > "$T/synth.txt" 2>&1
check "synth tiny writes a file" '[ -s "$T/tiny.gguf" ] && grep -q "178 tensors" "$T/synth.txt"'
"$GGUF" info "$T/tiny.gguf" > "$T/info.txt" 2>&1
check "info recognises the q2 layout" 'grep -q "^layout:    ds4 q2 layout" "$T/info.txt"'
check "info lists bytes per type" 'grep -q "IQ2_XXS" "$T/info.txt" && grep -q "^  total" "$T/info.txt"'
"$GGUF" synth --preset tiny --quant q4 --out "$T/tiny4.gguf" > /dev/null 2>&1
"$GGUF" info "$T/tiny4.gguf" > "$T/info4.txt" 2>&1
check "info recognises the q4 layout" 'grep -q "ds4 q4 layout" "$T/info4.txt"'
"$GGUF" synth --preset tiny --mtp --out "$T/mtp.gguf" > /dev/null 2>&1
"$GGUF" info "$T/mtp.gguf" --model "$T/tiny.gguf" > "$T/infomtp.txt" 2>&1
check "info checks an MTP file against its main model" 'grep -q "ds4 MTP companion file" "$T/infomtp.txt"'
head -c 1000 "$T/tiny.gguf" > "$T/cut.gguf"
"$GGUF" info "$T/cut.gguf" > "$T/cut.txt" 2>&1; rc=$?
check "info on a truncated file fails with a message" '[ $rc -ne 0 ] && grep -qi "cut.gguf" "$T/cut.txt"'
"$GGUF" synth --preset nope --out "$T/x.gguf" > "$T/bad.txt" 2>&1; rc=$?
check "synth rejects a bad preset" '[ $rc -ne 0 ] && grep -q "preset must be tiny or flash" "$T/bad.txt"'

# --- dstar: the README's smoke test ---------------------------------------------------------
"$DSTAR" -m "$T/tiny.gguf" -p "Hello" -n 16 --temp 0 > "$T/out1.txt" 2> "$T/err1.txt"; rc1=$?
"$DSTAR" -m "$T/tiny.gguf" -p "Hello" -n 16 --temp 0 > "$T/out2.txt" 2>/dev/null
check "greedy generation runs" '[ $rc1 -eq 0 ] && [ -s "$T/out1.txt" ]'
check "greedy generation prints the same text twice" 'cmp -s "$T/out1.txt" "$T/out2.txt"'
check "generation reports speed" 'grep -q "generation 16 tokens" "$T/err1.txt"'
"$DSTAR" -m "$T/tiny.gguf" -p "Hello" -n 16 --temp 0 -t 1 > "$T/out3.txt" 2>/dev/null
check "one thread prints the same text" 'cmp -s "$T/out1.txt" "$T/out3.txt"'
"$DSTAR" -m "$T/tiny.gguf" -p "Hello" -n 24 --temp 0.8 --top-k 40 --top-p 0.9 --min-p 0.02 --seed 5 > "$T/s1.txt" 2>/dev/null
"$DSTAR" -m "$T/tiny.gguf" -p "Hello" -n 24 --temp 0.8 --top-k 40 --top-p 0.9 --min-p 0.02 --seed 5 > "$T/s2.txt" 2>/dev/null
check "seeded sampling is reproducible" '[ -s "$T/s1.txt" ] && cmp -s "$T/s1.txt" "$T/s2.txt"'

# --- dstar: ds4-compatible dumps, byte for byte against ds4's own outputs --------------------
for v in q2 q4; do
  for f in "$ORACLE"/prompts/*.txt; do
    n=$(basename "$f" .txt)
    "$DSTAR" -m "$ORACLE/tiny-$v.gguf" --cpu -t 2 --ctx 2048 --prompt-file "$f" --temp 0 -n 16 \
      --dump-logprobs "$T/$v-$n.json" --logprobs-top-k 20 2>/dev/null
    check "--dump-logprobs $v $n is byte-identical to ds4's" 'cmp -s "$T/$v-$n.json" "$ORACLE/$v/$n.logprobs.json"'
    "$DSTAR" -m "$ORACLE/tiny-$v.gguf" --dump-tokens --prompt-file "$f" > "$T/$v-$n.tok" 2>/dev/null
    check "--dump-tokens $v $n is byte-identical to ds4's" 'cmp -s "$T/$v-$n.tok" "$ORACLE/$v/$n.tokens.txt"'
  done
done

# --- dstar: Ctrl-C stops a generation cleanly -----------------------------------------------
"$DSTAR" -m "$T/tiny.gguf" -p "Hello" -n 100000 --ctx 65536 --temp 0 > "$T/int.txt" 2> "$T/int.err" &
pid=$!
sleep 3
kill -INT $pid
wait $pid; rc=$?
check "SIGINT stops generation and exits 0 with a summary" '[ $rc -eq 0 ] && grep -q "generation [0-9]* tokens" "$T/int.err" && [ -s "$T/int.txt" ]'

# --- dstar: raw token ids and logits ------------------------------------------------------
"$DSTAR" -m "$T/tiny.gguf" --prompt-ids 0,17,300,5 --dump-logits "$T/l.f32" -n 4 > "$T/ids.txt" 2>/dev/null
check "--dump-logits writes positions x vocab floats" '[ "$(stat -c %s "$T/l.f32")" -eq $((4 * 4096 * 4)) ]'
check "--prompt-ids -n prints a greedy continuation" '[ "$(wc -w < "$T/ids.txt")" -eq 4 ]'

# --- dstar: interactive chat ---------------------------------------------------------------
printf 'Hi there\n/nothink\nAnd again\n/ctx 4096\n/read %s\n/bogus\n/quit\n' "$ORACLE/prompts/01_short_nothink.txt" \
  | "$DSTAR" -m "$T/tiny.gguf" -n 8 --temp 0 > "$T/repl.txt" 2> "$T/repl.err"; rc=$?
check "interactive chat runs turns and commands" '[ $rc -eq 0 ] && grep -q "mode none" "$T/repl.err" && grep -q "unknown command /bogus" "$T/repl.err" && [ -s "$T/repl.txt" ]'

# --- dstar: errors ------------------------------------------------------------------------
"$DSTAR" -m "$T/missing.gguf" -p hi > /dev/null 2> "$T/miss.txt"; rc=$?
check "missing model says how to get one" '[ $rc -eq 1 ] && grep -q "download-model.sh" "$T/miss.txt" && grep -q "synth --preset tiny" "$T/miss.txt"'
"$DSTAR" --no-such-flag > /dev/null 2>&1; rc=$?
check "unknown option exits 2" '[ $rc -eq 2 ]'
"$DSTAR" -m "$T/tiny.gguf" -p hi --ctx 8 -n 4 > /dev/null 2> "$T/ctx.txt"; rc=$?
check "prompt longer than the context is a clear error" '[ $rc -eq 1 ] && grep -q "context" "$T/ctx.txt"'
"$DSTAR" -m "$T/cut.gguf" -p hi > /dev/null 2> "$T/corrupt.txt"; rc=$?
check "corrupt model is a clear error" '[ $rc -eq 1 ] && grep -q "cut.gguf" "$T/corrupt.txt"'

finish cli_test
