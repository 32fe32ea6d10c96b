#!/usr/bin/env bash
# Tests scripts/download-model.sh offline: fake "remote" GGUF files of a few KB, named
# exactly like the published ones, are served through file:// URLs laid out like the
# Hugging Face resolve URL (…/antirez/deepseek-v4-gguf/resolve/main/FILE).
# Usage: download_model_test.sh [path/to/download-model.sh]
set -euo pipefail

here=$(cd "$(dirname -- "$0")" && pwd)
SCRIPT=${1:-$here/../../scripts/download-model.sh}
SCRIPT=$(cd "$(dirname -- "$SCRIPT")" && pwd)/$(basename -- "$SCRIPT")
[ -f "$SCRIPT" ] || { echo "no such script: $SCRIPT" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/download_model_test.XXXXXX")
trap 'rm -rf -- "$TMP"' EXIT

# Isolate from the caller's environment (no real token, no DS4_GGUF_DIR, fast retries).
export HOME=$TMP/home
mkdir -p "$HOME"
unset HF_TOKEN HF_HOME HF_TOKEN_PATH XDG_CACHE_HOME DS4_GGUF_DIR
export DSTAR_DOWNLOAD_RETRY_DELAY=0

declare -A FILES=(
  [q2-imatrix]=DeepSeek-V4-Flash-IQ2XXS-w2Q2K-AProjQ8-SExpQ8-OutQ8-chat-v2-imatrix.gguf
  [q4-imatrix]=DeepSeek-V4-Flash-Q4KExperts-F16HC-F16Compressor-F16Indexer-Q8Attn-Q8Shared-Q8Out-chat-v2-imatrix.gguf
  [q2]=DeepSeek-V4-Flash-IQ2XXS-w2Q2K-AProjQ8-SExpQ8-OutQ8-chat-v2.gguf
  [q4]=DeepSeek-V4-Flash-Q4KExperts-F16HC-F16Compressor-F16Indexer-Q8Attn-Q8Shared-Q8Out-chat-v2.gguf
  [mtp]=DeepSeek-V4-Flash-MTP-Q4K-Q8_0-F32.gguf
)
REMOTE=$TMP/remote/antirez/deepseek-v4-gguf/resolve/main
BASE=file://$REMOTE
mkdir -p "$REMOTE"
n=0
for t in "${!FILES[@]}"; do
  n=$((n + 1))
  head -c $((4096 + 1000 * n + 7)) /dev/urandom >"$REMOTE/${FILES[$t]}"
done
Q2I=${FILES[q2-imatrix]}
SRC=$REMOTE/$Q2I
SRC_SIZE=$(stat -c %s "$SRC")
SRC_SHA=$(sha256sum "$SRC" | cut -d' ' -f1)

# ---- tiny harness ----------------------------------------------------------------------
PASS=0
FAIL=0
CASE=""
ok()   { PASS=$((PASS + 1)); }
bad()  { FAIL=$((FAIL + 1)); echo "  FAIL [$CASE]: $*"; }
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }

# newcase NAME: fresh, empty working directory (the script links ./ds4flash.gguf here).
newcase() { CASE=$1; echo "- $1"; mkdir -p "$TMP/cases/$1"; cd "$TMP/cases/$1"; }

# run ARGS...: runs the script; sets RC, OUT (stdout), ERR (stderr).
run() {
  RC=0
  bash "$SCRIPT" "$@" >"$TMP/out" 2>"$TMP/err" || RC=$?
  OUT=$(cat "$TMP/out")
  ERR=$(cat "$TMP/err")
}
expect_rc() { if [ "$RC" -eq "$1" ]; then ok; else bad "exit $RC, want $1; stderr: $ERR"; fi; }
contains() { [[ $1 == *"$2"* ]]; }
absent() { [ ! -e "$1" ] && [ ! -L "$1" ]; }
log_has()   { grep -q -e "$1" "$TMP/curl.log"; }
log_lacks() { ! grep -q -e "$1" "$TMP/curl.log"; }
# flip_byte FILE OFFSET: xor the byte at OFFSET with 0xff, in place.
flip_byte() {
  local b
  b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
  printf '%b' "$(printf '\\%03o' $((b ^ 255)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# ---- argument handling -----------------------------------------------------------------
newcase help
run --help
expect_rc 0
check "usage on stdout" contains "$OUT" "Usage:"
for t in q2-imatrix q4-imatrix q2 q4 mtp --dir --base-url --no-link --sha256 --token; do
  check "--help mentions $t" contains "$OUT" "$t"
done
check "--help says verification is skipped without checksum" contains "$OUT" "SKIPPED"
run -h
expect_rc 0

newcase no_target
run
expect_rc 2
check "usage on stderr" contains "$ERR" "Usage:"
check "nothing on stdout" [ -z "$OUT" ]
run --dir x
expect_rc 2

newcase bad_target
run q8
expect_rc 2
check "names the bad target" contains "$ERR" "unknown target: q8"
check "usage on stderr" contains "$ERR" "Usage:"

newcase bad_option
run --frobnicate q2
expect_rc 2
check "names the bad option" contains "$ERR" "unknown option: --frobnicate"
run q2 --dir
expect_rc 2
run q2 --sha256 1234
expect_rc 2
run q2 q4
expect_rc 2
run q2 --retries 0
expect_rc 2
check "nothing created on usage errors" [ -z "$(ls -A)" ]

# ---- full download, default dir, symlink ----------------------------------------------
newcase full_download
run q2-imatrix --base-url "$BASE"
expect_rc 0
check "file in default ./gguf" cmp -s "gguf/$Q2I" "$SRC"
check "no .part left" [ ! -e "gguf/$Q2I.part" ]
check "only the model in gguf/ (no .part, no lock)" [ "$(ls -A gguf)" = "$Q2I" ]
check "ds4flash.gguf is a symlink" [ -L ds4flash.gguf ]
check "symlink target is relative gguf/FILE" [ "$(readlink ds4flash.gguf)" = "gguf/$Q2I" ]
check "symlink resolves to the model" cmp -s ds4flash.gguf "$SRC"

newcase all_targets
for t in "${!FILES[@]}"; do
  run "$t" --dir d --no-link --base-url "$BASE/"   # trailing slash is tolerated
  expect_rc 0
  check "$t -> ${FILES[$t]}" cmp -s "d/${FILES[$t]}" "$REMOTE/${FILES[$t]}"
done
check "--no-link creates no symlink" absent ds4flash.gguf

newcase env_dir
DS4_GGUF_DIR=envdir run q2 --no-link --base-url "$BASE"
expect_rc 0
check "DS4_GGUF_DIR is the default dir" cmp -s "envdir/${FILES[q2]}" "$REMOTE/${FILES[q2]}"

newcase absolute_dir
run q4 --dir "$TMP/cases/absolute_dir/abs" --base-url "$BASE"
expect_rc 0
check "absolute link target" [ "$(readlink ds4flash.gguf)" = "$TMP/cases/absolute_dir/abs/${FILES[q4]}" ]

newcase replace_symlink
ln -s gguf/old-model.gguf ds4flash.gguf
run q4-imatrix --base-url "$BASE"
expect_rc 0
check "existing symlink replaced" [ "$(readlink ds4flash.gguf)" = "gguf/${FILES[q4-imatrix]}" ]

newcase refuse_regular_file
echo "precious" >ds4flash.gguf
run q2-imatrix --base-url "$BASE"
expect_rc 1
check "says it refuses" contains "$ERR" "not a symlink"
check "regular file untouched" [ "$(cat ds4flash.gguf)" = precious ]
check "refused before downloading" absent gguf
run q2-imatrix --no-link --base-url "$BASE"
expect_rc 0
check "--no-link works next to a regular file" [ "$(cat ds4flash.gguf)" = precious ]

newcase mtp_leaves_link
ln -s gguf/main.gguf ds4flash.gguf
run mtp --base-url "$BASE"
expect_rc 0
check "mtp downloaded" cmp -s "gguf/${FILES[mtp]}" "$REMOTE/${FILES[mtp]}"
check "mtp leaves ds4flash.gguf alone" [ "$(readlink ds4flash.gguf)" = gguf/main.gguf ]
check "mtp prints --mtp usage" contains "$OUT" "--mtp gguf/${FILES[mtp]}"
rm ds4flash.gguf
echo "x" >ds4flash.gguf
run mtp --dir m2 --base-url "$BASE"
expect_rc 0   # a regular ds4flash.gguf does not matter for mtp

# ---- checksums -------------------------------------------------------------------------
newcase sha256_ok
run q2-imatrix --sha256 "${SRC_SHA^^}" --base-url "$BASE"   # upper case accepted
expect_rc 0
check "verified file saved" cmp -s "gguf/$Q2I" "$SRC"
check "reports sha256 OK" contains "$OUT" "sha256 OK"

newcase sha256_mismatch
wrong=$(printf '%064d' 0)
run q2-imatrix --sha256 "$wrong" --base-url "$BASE"
check "non-zero exit" [ "$RC" -ne 0 ]
check "clear message" contains "$ERR" "checksum mismatch"
check "no final file" [ ! -e "gguf/$Q2I" ]
check ".part deleted" [ ! -e "gguf/$Q2I.part" ]
check "no symlink" [ ! -L ds4flash.gguf ]

newcase no_checksum_note
run q2 --no-link --base-url "$BASE"
expect_rc 0
check "says verification skipped" contains "$OUT" "verification will be skipped"

# ---- resume ----------------------------------------------------------------------------
newcase resume_identical
mkdir gguf
head -c 2000 "$SRC" >"gguf/$Q2I.part"
run q2-imatrix --base-url "$BASE"
expect_rc 0
check "resumed file is byte-identical" cmp -s "gguf/$Q2I" "$SRC"
check "reports resuming at 2000" contains "$OUT" "resuming at byte 2000"

# How resume is proven: the .part prefix differs from the source in one byte. If the
# script re-downloaded from byte 0, the final file would equal the source; keeping the
# flipped byte (and matching the source after the prefix) shows curl was asked to
# continue at the .part size and only fetched the rest.
newcase resume_proof
mkdir gguf
head -c 2000 "$SRC" >"gguf/$Q2I.part"
flip_byte "gguf/$Q2I.part" 100
cp "gguf/$Q2I.part" expected
tail -c +2001 "$SRC" >>expected
run q2-imatrix --no-link --base-url "$BASE"
expect_rc 0
check "prefix byte kept (prefix not re-downloaded)" cmp -s "gguf/$Q2I" expected
check "result differs from source exactly at the flipped byte" \
  [ "$(cmp "gguf/$Q2I" "$SRC" | grep -o 'byte [0-9]*')" = "byte 101" ]
check "full size" [ "$(stat -c %s "gguf/$Q2I")" = "$SRC_SIZE" ]

newcase resume_corrupt_prefix_caught_by_sha
mkdir gguf
head -c 2000 "$SRC" >"gguf/$Q2I.part"
flip_byte "gguf/$Q2I.part" 100
run q2-imatrix --no-link --sha256 "$SRC_SHA" --base-url "$BASE"
check "non-zero exit" [ "$RC" -ne 0 ]
check "no final file" [ ! -e "gguf/$Q2I" ]
check ".part deleted" [ ! -e "gguf/$Q2I.part" ]
run q2-imatrix --no-link --sha256 "$SRC_SHA" --base-url "$BASE"
expect_rc 0
check "re-run downloads a good file" cmp -s "gguf/$Q2I" "$SRC"

newcase complete_part_renamed_without_fetch
mkdir gguf
cp "$SRC" "gguf/$Q2I.part"
flip_byte "gguf/$Q2I.part" 5
cp "gguf/$Q2I.part" expected
run q2-imatrix --no-link --base-url "$BASE"
expect_rc 0
check "full-size .part renamed as is" cmp -s "gguf/$Q2I" expected

newcase oversize_part_discarded
mkdir gguf
{ cat "$SRC"; echo garbage; } >"gguf/$Q2I.part"
run q2-imatrix --no-link --base-url "$BASE"
expect_rc 0
check "warns" contains "$ERR" "larger than the file on the server"
check "fresh download" cmp -s "gguf/$Q2I" "$SRC"

# ---- already downloaded ----------------------------------------------------------------
newcase already_complete_offline
mkdir gguf
cp "$SRC" "gguf/$Q2I"
run q2-imatrix --base-url "file://$TMP/nowhere"   # nothing there: any fetch would fail
expect_rc 0
check "reports already downloaded" contains "$OUT" "already downloaded"
check "file unchanged" cmp -s "gguf/$Q2I" "$SRC"
check "still linked" [ "$(readlink ds4flash.gguf)" = "gguf/$Q2I" ]

newcase already_complete_same_size_not_refetched
mkdir gguf
cp "$SRC" "gguf/$Q2I"
flip_byte "gguf/$Q2I" 7
cp "gguf/$Q2I" expected
run q2-imatrix --base-url "$BASE"
expect_rc 0
check "size matches: not fetched again" cmp -s "gguf/$Q2I" expected

newcase already_complete_with_sha
mkdir gguf
cp "$SRC" "gguf/$Q2I"
run q2-imatrix --no-link --sha256 "$SRC_SHA" --base-url "file://$TMP/nowhere"
expect_rc 0
check "existing file verified" contains "$OUT" "sha256 OK"
flip_byte "gguf/$Q2I" 7
run q2-imatrix --no-link --sha256 "$SRC_SHA" --base-url "$BASE"
expect_rc 1
check "existing mismatching file is kept" [ -e "gguf/$Q2I" ]

newcase already_present_wrong_size
mkdir gguf
head -c 100 "$SRC" >"gguf/$Q2I"
run q2-imatrix --base-url "$BASE"
expect_rc 1
check "explains size mismatch" contains "$ERR" "the server has $SRC_SIZE"
check "file left alone" [ "$(stat -c %s "gguf/$Q2I")" = 100 ]

# ---- failures --------------------------------------------------------------------------
newcase missing_remote
run q2-imatrix --retries 2 --base-url "file://$TMP/nowhere"
expect_rc 1
check "retried" contains "$ERR" "attempt 2 of 2"
check "clear failure" contains "$ERR" "download failed after 2 attempt(s)"
check "no final file" [ ! -e "gguf/$Q2I" ]
check "no symlink" [ ! -L ds4flash.gguf ]

# ---- what curl is asked to do (token, -C -) --------------------------------------------
# A curl wrapper first on PATH logs each call's arguments and the contents of its -K
# config (where the script puts the Authorization header), then runs the real curl.
REAL_CURL=$(command -v curl)
mkdir -p "$TMP/bin"
cat >"$TMP/bin/curl" <<EOF
#!/usr/bin/env bash
args=()
while [ \$# -gt 0 ]; do
  if [ "\$1" = -K ]; then
    cat "\$2" >>"$TMP/curl.log"; cp "\$2" "$TMP/curl.cfg"; args+=(-K "$TMP/curl.cfg"); shift 2
  else
    args+=("\$1"); shift
  fi
done
echo "ARGS: \${args[*]}" >>"$TMP/curl.log"
exec "$REAL_CURL" "\${args[@]}"
EOF
chmod +x "$TMP/bin/curl"

newcase curl_args
: >"$TMP/curl.log"
PATH=$TMP/bin:$PATH run q2 --no-link --token hf_secret123 --base-url "$BASE"
expect_rc 0
check "--token sent as Authorization header" log_has 'header = "Authorization: Bearer hf_secret123"'
check "token not on the command line" log_lacks "^ARGS:.*hf_secret123"
check "download asks curl to resume (-C -)" log_has "^ARGS:.*-C - .*\.part"

: >"$TMP/curl.log"
HF_TOKEN=hf_env456 PATH=$TMP/bin:$PATH run q4 --no-link --base-url "$BASE"
expect_rc 0
check "HF_TOKEN not sent to a non-Hugging-Face URL" log_lacks hf_env456

# ---- published checksum over HTTP (Hugging Face-like server; skipped without python3) -----
# Mimics huggingface.co: HEAD/GET on …/resolve/main/FILE answers 302 to a "CDN" path with
# X-Linked-Size and X-Linked-Etag (the sha256) and a Content-Length of the redirect body;
# the CDN rejects HEAD (403) and serves GET with Range support. Under /bad/ the advertised
# sha256 is wrong.
if command -v python3 >/dev/null 2>&1; then
  cat >"$TMP/hf_server.py" <<'PY'
import hashlib, http.server, os, re, sys
root, portfile = sys.argv[1], sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def _serve(self, body):
        m = re.fullmatch(r"(/bad)?/antirez/deepseek-v4-gguf/resolve/main/([^/]+)", self.path)
        if m:
            path = os.path.join(root, m.group(2))
            if not os.path.isfile(path):
                return self._reply(404, b"not found")
            data = open(path, "rb").read()
            sha = hashlib.sha256(data).hexdigest()
            if m.group(1):
                sha = "0" * 64
            redir = b"redirecting"
            self.send_response(302)
            self.send_header("Location", "/cdn/" + m.group(2))
            self.send_header("X-Linked-Size", str(len(data)))
            self.send_header("X-Linked-Etag", '"%s"' % sha)
            self.send_header("ETag", '"deadbeef"')
            self.send_header("Content-Length", str(len(redir)))
            self.end_headers()
            if body: self.wfile.write(redir)
            return
        m = re.fullmatch(r"/cdn/([^/]+)", self.path)
        if not m:
            return self._reply(404, b"not found")
        if not body:
            return self._reply(403, b"")      # signed CDN URLs may refuse HEAD
        data = open(os.path.join(root, m.group(1)), "rb").read()
        start = 0
        rng = self.headers.get("Range")
        if rng:
            start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
            if start >= len(data):
                return self._reply(416, b"")
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])
    def _reply(self, code, data):
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command == "GET": self.wfile.write(data)
    def do_HEAD(self): self._serve(False)
    def do_GET(self): self._serve(True)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(portfile + ".tmp", "w").write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
PY
  python3 "$TMP/hf_server.py" "$REMOTE" "$TMP/port" &
  server_pid=$!
  trap 'kill "$server_pid" 2>/dev/null; rm -rf -- "$TMP"' EXIT
  for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
  if [ -s "$TMP/port" ]; then
    HTTP="http://127.0.0.1:$(cat "$TMP/port")"
    HBASE=$HTTP/antirez/deepseek-v4-gguf/resolve/main

    newcase http_published_sha
    run q2-imatrix --base-url "$HBASE"
    expect_rc 0
    check "downloaded over HTTP" cmp -s "gguf/$Q2I" "$SRC"
    check "uses the published sha256" contains "$OUT" "expected sha256 (published (X-Linked-Etag)): $SRC_SHA"
    check "verifies it" contains "$OUT" "sha256 OK"
    check "size from X-Linked-Size" contains "$OUT" "on the server"
    run q2-imatrix --base-url "$HBASE"
    expect_rc 0
    check "second run: already downloaded" contains "$OUT" "size matches the server"

    newcase http_resume_with_published_sha
    mkdir gguf
    head -c 3000 "$SRC" >"gguf/$Q2I.part"
    run q2-imatrix --no-link --base-url "$HBASE"
    expect_rc 0
    check "HTTP resume at 3000" contains "$OUT" "resuming at byte 3000"
    check "HTTP resume byte-identical and verified" cmp -s "gguf/$Q2I" "$SRC"

    newcase http_published_sha_mismatch
    run q2-imatrix --base-url "$HTTP/bad/antirez/deepseek-v4-gguf/resolve/main"
    expect_rc 1
    check "mismatch against published sha256" contains "$ERR" "checksum mismatch (published (X-Linked-Etag))"
    check "no final file" absent "gguf/$Q2I"
    check ".part deleted" absent "gguf/$Q2I.part"
    run q2-imatrix --sha256 "$SRC_SHA" --base-url "$HTTP/bad/antirez/deepseek-v4-gguf/resolve/main"
    expect_rc 0
    check "--sha256 overrides the published value" cmp -s "gguf/$Q2I" "$SRC"
    check "warns about the difference" contains "$ERR" "differs from the published sha256"

    newcase http_404
    run q2-imatrix --base-url "$HTTP/antirez/other-repo/resolve/main"
    expect_rc 1
    check "404 explained" contains "$ERR" "HTTP 404"
  else
    echo "- (HTTP tests skipped: the local server did not start)"
  fi
else
  echo "- (HTTP tests skipped: no python3)"
fi

echo
echo "download_model_test: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
