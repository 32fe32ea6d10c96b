#!/usr/bin/env bash
# `dstar dsml-parse`: every case of the DSML corpus prints exactly its expected JSON, and the
# command's usage errors and exit statuses.  No model file is involved.
# usage: dsml_parse_cmd_test.sh DSTAR_BINARY CORPUS_DIR
set -uo pipefail
DSTAR=$1
CORPUS=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

# --- the corpus: NAME.txt -> NAME.json, byte for byte (NAME ending in .thinking: --thinking) ---
cases=0
for txt in "$CORPUS"/*.txt; do
  name=$(basename "$txt" .txt)
  args=()
  case "$name" in *.thinking) args=(--thinking) ;; esac
  "$DSTAR" dsml-parse "${args[@]}" "$txt" > "$T/out.json" 2> "$T/err.txt"; rc=$?
  check "$name: exit 0" '[ $rc -eq 0 ]'
  if cmp -s "$T/out.json" "$CORPUS/$name.json"; then ok "$name"; else
    bad "$name: output differs from $name.json"
    diff "$CORPUS/$name.json" "$T/out.json" | head -20
  fi
  cases=$((cases + 1))
done
check "the corpus has cases" '[ $cases -ge 40 ]'

# --- standard input, options, errors ----------------------------------------------------------
spec="$CORPUS/ok-spec-example.thinking"
"$DSTAR" dsml-parse --thinking - < "$spec.txt" > "$T/stdin.json"; rc=$?
check "FILE - reads standard input" '[ $rc -eq 0 ] && cmp -s "$T/stdin.json" "$spec.json"'
# A block quoted in the reasoning: not executed with --thinking, a call without it.
printf 'I could call <｜DSML｜tool_calls><｜DSML｜invoke name="rm"></｜DSML｜invoke></｜DSML｜tool_calls> but no.</think>Done.' > "$T/quoted.txt"
"$DSTAR" dsml-parse --thinking "$T/quoted.txt" > "$T/think.json"; rc1=$?
"$DSTAR" dsml-parse "$T/quoted.txt" > "$T/nothink.json"; rc2=$?
check "--thinking: DSML inside the reasoning is not executed" \
  '[ $rc1 -eq 0 ] && grep -q "\"tool_calls\": \[\]" "$T/think.json" && grep -q "\"content\": \"Done.\"" "$T/think.json"'
check "without --thinking the same block is a call" '[ $rc2 -eq 0 ] && grep -q "\"name\": \"rm\"" "$T/nothink.json"'
"$DSTAR" dsml-parse > "$T/o" 2> "$T/e"; rc=$?
check "missing FILE is a usage error (2)" '[ $rc -eq 2 ] && grep -q "missing FILE" "$T/e" && [ ! -s "$T/o" ]'
"$DSTAR" dsml-parse --bogus "$spec.txt" > "$T/o" 2> "$T/e"; rc=$?
check "an unknown option is a usage error (2)" '[ $rc -eq 2 ] && grep -q "unknown option .--bogus." "$T/e"'
"$DSTAR" dsml-parse a.txt b.txt > "$T/o" 2> "$T/e"; rc=$?
check "two files are a usage error (2)" '[ $rc -eq 2 ] && grep -q "only one FILE" "$T/e"'
"$DSTAR" dsml-parse "$T/does-not-exist.txt" > "$T/o" 2> "$T/e"; rc=$?
check "an unreadable file fails (1) naming it" '[ $rc -eq 1 ] && grep -q "does-not-exist.txt" "$T/e" && [ ! -s "$T/o" ]'
"$DSTAR" dsml-parse "$T" > "$T/o" 2> "$T/e"; rc=$?
check "a directory fails (1)" '[ $rc -eq 1 ] && [ -s "$T/e" ]'
"$DSTAR" dsml-parse --help > "$T/o" 2>&1; rc=$?
check "dsml-parse --help" '[ $rc -eq 0 ] && grep -q "usage: dstar dsml-parse" "$T/o"'
"$DSTAR" --help > "$T/o" 2>&1; rc=$?
check "dstar --help lists dsml-parse" '[ $rc -eq 0 ] && grep -q "dsml-parse \[--thinking\] FILE" "$T/o"'
printf '' > "$T/empty.txt"
"$DSTAR" dsml-parse "$T/empty.txt" > "$T/o"; rc=$?
check "an empty completion" '[ $rc -eq 0 ] && grep -q "\"content\": \"\"" "$T/o"'

echo "dsml-parse: $pass passed, $fail failed"
[ $fail -eq 0 ]
