#!/usr/bin/env bash
# The dstar-server binary as a process: flags and exit codes, the single-instance lock,
# startup errors, serving the tiny synthetic model, and signals (spec server.md §1-§2).
# usage: dstar_server_cli_test.sh BIN_DIR
set -uo pipefail
BIN=$1
SERVER=$BIN/dstar-server
T=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT
export DSTAR_LOCK_FILE=$T/lock
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Waits until GET /health answers 200 (or the process died); 0 on success.
wait_healthy() {
  for _ in $(seq 1 200); do
    kill -0 "$1" 2>/dev/null || return 1
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$2/health")" = 200 ] && return 0
    sleep 0.05
  done
  return 1
}

# --- flags --------------------------------------------------------------------------------
"$SERVER" --help > "$T/help.out" 2> "$T/help.err"; rc=$?
check "--help prints usage on stdout and exits 0" '[ $rc -eq 0 ] && grep -q "^Usage: dstar-server" "$T/help.out" && [ ! -s "$T/help.err" ]'
check "--help documents the dstar extensions" 'grep -q -- "--http-threads" "$T/help.out" && grep -q -- "--sessions" "$T/help.out" && grep -q -- "--model-alias" "$T/help.out"'
"$SERVER" -h > "$T/h.out" 2>&1; rc=$?
check "-h is --help" '[ $rc -eq 0 ] && grep -q "^Usage: dstar-server" "$T/h.out"'
"$SERVER" --no-such-flag > "$T/unk.out" 2> "$T/unk.err"; rc=$?
check "an unknown flag prints usage on stderr and exits 2" '[ $rc -eq 2 ] && [ ! -s "$T/unk.out" ] && grep -q "unknown option: --no-such-flag" "$T/unk.err" && grep -q "^Usage: dstar-server" "$T/unk.err"'
"$SERVER" --ctx abc > /dev/null 2> "$T/ctx.err"; rc=$?
check "a bad number exits 2 naming the flag" '[ $rc -eq 2 ] && grep -q "invalid value for --ctx: abc" "$T/ctx.err"'
"$SERVER" --port > /dev/null 2> "$T/port.err"; rc=$?
check "a missing value exits 2" '[ $rc -eq 2 ] && grep -q "missing value for --port" "$T/port.err"'
"$SERVER" --backend tpu > /dev/null 2> "$T/be.err"; rc=$?
check "an unknown backend name exits 2" '[ $rc -eq 2 ] && grep -q "valid server backends are: metal, cuda, cpu" "$T/be.err"'

# --- startup errors -----------------------------------------------------------------------
"$BIN/dstar-gguf" synth --preset tiny --out "$T/tiny.gguf" > /dev/null 2>&1
"$SERVER" -m "$T/missing.gguf" > /dev/null 2> "$T/missing.err"; rc=$?
check "a missing model exits 1 saying how to get one" '[ $rc -eq 1 ] && grep -q "download-model.sh" "$T/missing.err" && grep -q "dstar-gguf synth" "$T/missing.err"'
"$SERVER" -m "$T/tiny.gguf" --metal > /dev/null 2> "$T/metal.err"; rc=$?
check "a backend dstar does not have exits 1" '[ $rc -eq 1 ] && grep -q "no Metal backend" "$T/metal.err"'
"$SERVER" -m "$T/tiny.gguf" --dir-steering-file "$T/dir.f32" > /dev/null 2> "$T/steer.err"; rc=$?
check "directional steering is refused as not supported yet" '[ $rc -eq 1 ] && grep -q "not supported by dstar yet" "$T/steer.err"'
"$SERVER" -m "$T/tiny.gguf" --chdir "$T/nowhere" > /dev/null 2> "$T/chdir.err"; rc=$?
check "a failed --chdir exits 1" '[ $rc -eq 1 ] && grep -q "failed to chdir" "$T/chdir.err"'
echo "garbage" > "$T/bad.gguf"
port=$(free_port)
"$SERVER" -m "$T/bad.gguf" --port "$port" -t 1 > /dev/null 2> "$T/bad.err"; rc=$?
check "a model that fails to load exits 1 with the reason" '[ $rc -eq 1 ] && grep -q "failed to load the model" "$T/bad.err"'

# --- serving, the lock, signals -----------------------------------------------------------
port=$(free_port)
"$SERVER" -m tiny.gguf --chdir "$T" --port "$port" -t 1 --ctx 2048 --mtp x.gguf --warm-weights --quality > /dev/null 2> "$T/run.err" &
pid=$!
pids+=("$pid")
wait_healthy "$pid" "$port"; healthy=$?
check "the server becomes healthy (model resolved after --chdir)" '[ $healthy -eq 0 ]'
check "startup logs carry the MMDD HH:MM:SS prefix" 'grep -Eq "^[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} dstar-server: listening on http://127.0.0.1:$port" "$T/run.err"'
check "--warm-weights touches the mapped pages" 'grep -q "warmed tensor pages in" "$T/run.err"'
check "--mtp is accepted with one warning" '[ "$(grep -c "MTP speculative decoding is not implemented" "$T/run.err")" -eq 1 ]'
curl -s "http://127.0.0.1:$port/v1/chat/completions" -d '{"messages":[{"role":"user","content":"hi"}],"max_tokens":3,"temperature":0,"reasoning_effort":"none"}' > "$T/chat.json"
check "a chat completion is answered" 'grep -q "\"completion_tokens\":3" "$T/chat.json"'
"$SERVER" -m "$T/tiny.gguf" --port "$(free_port)" > /dev/null 2> "$T/second.err"; rc=$?
check "a second instance is refused with exit 2 naming the pid" '[ $rc -eq 2 ] && grep -q "another dstar process is already running (pid $pid)" "$T/second.err"'
kill -TERM "$pid"
wait "$pid"; rc=$?
check "SIGTERM shuts down with exit 0" '[ $rc -eq 0 ] && grep -q "shutdown requested" "$T/run.err"'

port=$(free_port)
"$SERVER" -m "$T/tiny.gguf" --port "$port" -t 1 --ctx 2048 > /dev/null 2> "$T/run2.err" &
pid=$!
pids+=("$pid")
wait_healthy "$pid" "$port"
# An idle keep-alive connection keeps the drain busy for a few seconds: time for a second signal.
exec 3<>"/dev/tcp/127.0.0.1/$port"
sleep 0.5  # accepted by the server before the signal closes the listener
kill -INT "$pid"
sleep 0.5
kill -INT "$pid"
wait "$pid"; rc=$?
exec 3<&-
check "a second signal exits 130 at once" '[ $rc -eq 130 ] && grep -q "second signal" "$T/run2.err"'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
