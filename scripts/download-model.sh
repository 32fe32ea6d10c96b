#!/usr/bin/env bash
# Downloads the DeepSeek V4 Flash GGUF files published for antirez's ds4 engine
# (Hugging Face repo antirez/deepseek-v4-gguf), which are the files dstar loads.
# Resumable (FILE.part + curl -C -), verifies sha256 when one is known, and points
# ./ds4flash.gguf (the default model path of the tools) at the main model.
# Run with --help for the usage. Test: tests/scripts/download_model_test.sh.
set -euo pipefail

readonly HF_REPO="antirez/deepseek-v4-gguf"
readonly DEFAULT_BASE_URL="https://huggingface.co/${HF_REPO}/resolve/main"
readonly LINK_NAME="ds4flash.gguf"
PROG=$(basename -- "$0")
readonly PROG

# File name published for each target (see shared/spec/model.md §2.5 and §2.7).
target_file() {
  case "$1" in
    q2-imatrix) echo "DeepSeek-V4-Flash-IQ2XXS-w2Q2K-AProjQ8-SExpQ8-OutQ8-chat-v2-imatrix.gguf" ;;
    q4-imatrix) echo "DeepSeek-V4-Flash-Q4KExperts-F16HC-F16Compressor-F16Indexer-Q8Attn-Q8Shared-Q8Out-chat-v2-imatrix.gguf" ;;
    q2)         echo "DeepSeek-V4-Flash-IQ2XXS-w2Q2K-AProjQ8-SExpQ8-OutQ8-chat-v2.gguf" ;;
    q4)         echo "DeepSeek-V4-Flash-Q4KExperts-F16HC-F16Compressor-F16Indexer-Q8Attn-Q8Shared-Q8Out-chat-v2.gguf" ;;
    mtp)        echo "DeepSeek-V4-Flash-MTP-Q4K-Q8_0-F32.gguf" ;;
    *) return 1 ;;
  esac
}

usage() {
  cat <<EOF
Download a DeepSeek V4 Flash GGUF published for ds4 (Hugging Face: ${HF_REPO}).

Usage: ${PROG} [options] TARGET

Targets (prefer the imatrix files):
  q2-imatrix  2-bit routed experts, imatrix-tuned, ~81 GB. For 96-128 GB RAM machines.
  q4-imatrix  4-bit routed experts, imatrix-tuned, ~153 GB. For 256 GB+ machines.
  q2          legacy (non-imatrix) 2-bit file, ~81 GB.
  q4          legacy (non-imatrix) 4-bit file, ~153 GB.
  mtp         optional speculative-decoding (MTP) support file, ~3.6 GB; works with
              every main model, enabled explicitly with --mtp FILE.

Options:
  --dir DIR        Where the GGUF files are stored. Default: \$DS4_GGUF_DIR, else ./gguf
                   (relative to the current directory; same layout as ds4).
  --base-url URL   Where files are fetched from, as URL/FILE_NAME.
                   Default: ${DEFAULT_BASE_URL}
  --token TOKEN    Hugging Face token, sent as "Authorization: Bearer TOKEN". Without it,
                   \$HF_TOKEN or the Hugging Face token cache (\$HF_TOKEN_PATH, else
                   \$HF_HOME/token, else ~/.cache/huggingface/token) is used, but only for
                   https://huggingface.co URLs. The repo is public: no token is needed.
  --sha256 HEX     Expected sha256 of the file. Overrides the published checksum.
  --no-link        Do not create/update ./${LINK_NAME}.
  --retries N      Download attempts before giving up (default 5); every attempt resumes.
  -h, --help       Show this help.

Downloads go to DIR/FILE.part and are resumed with 'curl -C -': if a download stops, run
the same command again. The file is renamed to DIR/FILE only after the transfer is
complete and, when a checksum is known, verified.

Checksum: Hugging Face publishes the sha256 of LFS files in the X-Linked-Etag response
header (and the size in X-Linked-Size); one HEAD request reads them, and the sha256 is
used when present. With --sha256 that value is used instead. When neither is available
(e.g. a mirror or file:// URL without those headers) verification is SKIPPED and only
the size is checked, when the server reports one. On a mismatch the .part file is
deleted and the script fails. An already downloaded DIR/FILE is not fetched again: it is
checked against the server's size, and against --sha256 when given.

Main models (q2*, q4*): ./${LINK_NAME} in the current directory is made a symlink to the
downloaded file (an existing symlink is replaced; a regular file is never overwritten),
so the tools' default model path works. The mtp target never touches ./${LINK_NAME};
pass it to the tools with --mtp DIR/FILE --mtp-draft 2.

Environment: DS4_GGUF_DIR (default for --dir), HF_TOKEN, HF_TOKEN_PATH, HF_HOME,
DSTAR_DOWNLOAD_RETRY_DELAY (seconds before retry n is n times this; default 10).

Exit status: 0 success, 1 download/verification failure, 2 usage error.
EOF
}

die() { echo "${PROG}: error: $*" >&2; exit 1; }
usage_error() { echo "${PROG}: $*" >&2; echo >&2; usage >&2; exit 2; }
info() { echo "${PROG}: $*"; }

file_size() { stat -c %s -- "$1" 2>/dev/null || stat -f %z -- "$1"; }

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum -- "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 -- "$1" | cut -d' ' -f1
  else
    die "neither sha256sum nor shasum found; cannot verify the checksum"
  fi
}

# verify_sha256 FILE EXPECTED: returns 0 when they match; prints progress/result.
verify_sha256() {
  info "verifying sha256 of $1 (this reads the whole file) ..."
  local got
  got=$(sha256_of "$1")
  if [ "$got" = "$2" ]; then
    info "sha256 OK ($got)"
    return 0
  fi
  echo "${PROG}: sha256 MISMATCH for $1" >&2
  echo "${PROG}:   expected $2" >&2
  echo "${PROG}:   got      $got" >&2
  return 1
}

human_size() {
  awk -v b="$1" 'BEGIN { split("B KiB MiB GiB TiB", u, " "); i = 1;
                         while (b >= 1024 && i < 5) { b /= 1024; i++ }
                         printf (i == 1 ? "%d %s" : "%.1f %s"), b, u[i] }'
}

# ---- arguments -------------------------------------------------------------------------
target=""
dir="${DS4_GGUF_DIR:-./gguf}"
base_url="$DEFAULT_BASE_URL"
token=""
token_explicit=0
want_sha=""
do_link=1
retries=5
retry_delay="${DSTAR_DOWNLOAD_RETRY_DELAY:-10}"

need_value() { if [ $# -lt 2 ] || [ -z "$2" ]; then usage_error "option $1 needs a value"; fi; }

while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help|help) usage; exit 0 ;;
    --dir)      need_value "$@"; dir=$2; shift 2 ;;
    --dir=*)    dir=${1#*=}; [ -n "$dir" ] || usage_error "option --dir needs a value"; shift ;;
    --base-url) need_value "$@"; base_url=$2; shift 2 ;;
    --base-url=*) base_url=${1#*=}; [ -n "$base_url" ] || usage_error "option --base-url needs a value"; shift ;;
    --token)    need_value "$@"; token=$2; token_explicit=1; shift 2 ;;
    --token=*)  token=${1#*=}; token_explicit=1; [ -n "$token" ] || usage_error "option --token needs a value"; shift ;;
    --sha256)   need_value "$@"; want_sha=$2; shift 2 ;;
    --sha256=*) want_sha=${1#*=}; shift ;;
    --no-link)  do_link=0; shift ;;
    --retries)  need_value "$@"; retries=$2; shift 2 ;;
    --retries=*) retries=${1#*=}; shift ;;
    --) shift
        [ $# -eq 0 ] && break
        if [ $# -gt 1 ] || [ -n "$target" ]; then usage_error "more than one target given"; fi
        target=$1; shift ;;
    -*) usage_error "unknown option: $1" ;;
    *)  [ -z "$target" ] || usage_error "more than one target given: $target, $1"
        target=$1; shift ;;
  esac
done

[ -n "$target" ] || usage_error "missing TARGET"
file=$(target_file "$target") || usage_error "unknown target: $target"
want_sha=$(printf '%s' "$want_sha" | tr 'A-F' 'a-f')
if [ -n "$want_sha" ] && ! [[ $want_sha =~ ^[0-9a-f]{64}$ ]]; then
  usage_error "--sha256 needs 64 hex digits, got: $want_sha"
fi
[[ $retries =~ ^[1-9][0-9]*$ ]] || usage_error "--retries needs a positive integer, got: $retries"
[[ $retry_delay =~ ^[0-9]+$ ]] || usage_error "DSTAR_DOWNLOAD_RETRY_DELAY must be a non-negative integer"

command -v curl >/dev/null 2>&1 || die "curl is required (Debian: apt-get install curl)"

base_url=${base_url%/}
url="${base_url}/${file}"
dir=${dir%/}
[ -n "$dir" ] || dir=/
while [[ $dir == ./?* ]]; do dir=${dir#./}; done   # ./gguf -> gguf (messages, link target)
out="${dir}/${file}"
part="${out}.part"

# Token: an explicit --token is always sent; implicit ones only to Hugging Face.
if [ "$token_explicit" -eq 0 ] && [[ $base_url == https://huggingface.co/* ]]; then
  if [ -n "${HF_TOKEN:-}" ]; then
    token=$HF_TOKEN
  else
    token_path=${HF_TOKEN_PATH:-${HF_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/huggingface}/token}
    if [ -s "$token_path" ]; then token=$(tr -d '[:space:]' <"$token_path"); fi
  fi
fi

# curl wrapper: the token travels in a config read from a pipe, never on the command line.
curl_auth() {
  if [ -n "$token" ]; then
    curl -K <(printf 'header = "Authorization: Bearer %s"\n' "$token") "$@"
  else
    curl "$@"
  fi
}

# Refuse early (before a long download) if ./ds4flash.gguf is something we must not touch.
is_main=1
[ "$target" = mtp ] && is_main=0
if [ "$is_main" -eq 1 ] && [ "$do_link" -eq 1 ] && [ -e "$LINK_NAME" ] && [ ! -L "$LINK_NAME" ]; then
  die "./$LINK_NAME exists and is not a symlink; refusing to overwrite it. Move it away or use --no-link."
fi

# ---- what does the server say? ---------------------------------------------------------
# One HEAD request (following redirects). Hugging Face answers the resolve URL of an LFS
# file with X-Linked-Size / X-Linked-Etag (the sha256) before redirecting to its CDN;
# file:// and plain servers give Content-Length. Failure here is not fatal.
remote_size=""
remote_sha=""
headers=$(curl_auth -sS -I -L --connect-timeout 30 --max-time 120 "$url" 2>/dev/null | tr -d '\r') || true
if [ -n "$headers" ]; then
  # Per response block (HTTP/... starts one): Content-Length counts only for the final
  # block and only if it is a 2xx (file:// has no status line); X-Linked-* from any block.
  read -r remote_size remote_sha < <(printf '%s\n' "$headers" | awk '
    BEGIN { st = ""; cl = ""; xs = ""; xe = "" }
    /^HTTP\// { st = $2; cl = ""; next }
    { name = tolower($1); v = $2 }
    name == "content-length:" { cl = v }
    name == "x-linked-size:" && xs == "" { xs = v }
    name == "x-linked-etag:" && xe == "" { xe = v }
    END {
      size = xs
      if (size == "" && (st == "" || st ~ /^2/)) size = cl
      gsub(/^W\//, "", xe); gsub(/"/, "", xe)
      print (size == "" ? "-" : size), (xe == "" ? "-" : tolower(xe))
    }') || true
  # (validated here: Debian's mawk has no {n} regex intervals)
  [[ $remote_size =~ ^[0-9]+$ ]] || remote_size=""
  [[ $remote_sha =~ ^[0-9a-f]{64}$ ]] || remote_sha=""   # a 40-hex git ETag is not a sha256
fi

expect_sha=$want_sha
sha_source="--sha256"
if [ -z "$expect_sha" ] && [ -n "$remote_sha" ]; then
  expect_sha=$remote_sha
  sha_source="published (X-Linked-Etag)"
elif [ -n "$want_sha" ] && [ -n "$remote_sha" ] && [ "$want_sha" != "$remote_sha" ]; then
  echo "${PROG}: warning: --sha256 differs from the published sha256 $remote_sha; using --sha256" >&2
fi

# ---- already downloaded? ---------------------------------------------------------------
link_model() {
  if [ "$is_main" -eq 0 ]; then
    echo
    info "MTP is optional and works with any main model; ./$LINK_NAME was not changed."
    info "enable it explicitly, e.g.: --mtp $out --mtp-draft 2"
    return
  fi
  if [ "$do_link" -eq 0 ]; then
    info "--no-link: ./$LINK_NAME not changed; pass the model with -m $out"
    return
  fi
  # A relative DIR stays relative (the link lives in the current directory, so it resolves).
  local link_target=$out
  [ -e "$LINK_NAME" ] && [ ! -L "$LINK_NAME" ] &&
    die "./$LINK_NAME exists and is not a symlink; refusing to overwrite it. Move it away or use --no-link."
  ln -sfn -- "$link_target" "$LINK_NAME"
  info "linked ./$LINK_NAME -> $link_target (the tools' default model path)"
}

if [ -e "$out" ]; then
  [ -f "$out" ] || die "$out exists and is not a regular file"
  have=$(file_size "$out")
  if [ -n "$remote_size" ] && [ "$have" != "$remote_size" ]; then
    die "$out exists but has $have bytes, the server has $remote_size. It is not the published file (or is damaged): remove it and run again."
  fi
  [ "$have" -gt 0 ] || die "$out exists but is empty: remove it and run again."
  if [ -n "$want_sha" ]; then
    verify_sha256 "$out" "$want_sha" ||
      die "$out does not match --sha256; it was left in place: remove it and run again to re-download."
  fi
  if [ -n "$remote_size" ]; then
    info "already downloaded: $out ($(human_size "$have"), size matches the server)"
  else
    info "already downloaded: $out ($(human_size "$have"); server size unknown, not re-checked)"
  fi
  link_model
  info "done."
  exit 0
fi

# ---- download --------------------------------------------------------------------------
mkdir -p -- "$dir" || die "cannot create directory $dir"

# Two runs appending to the same .part would corrupt it.
lock="${dir}/.${file}.lock"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$lock"
  flock -n 9 || die "another download of $file into $dir is in progress (lock $lock)"
  trap 'rm -f -- "$lock"' EXIT
fi

if [ -n "$remote_size" ]; then
  info "$file: $(human_size "$remote_size") on the server"
  if [ -e "$part" ] && [ "$(file_size "$part")" -gt "$remote_size" ]; then
    echo "${PROG}: warning: $part is larger than the file on the server; discarding it" >&2
    rm -f -- "$part"
  fi
  have_part=0
  [ -e "$part" ] && have_part=$(file_size "$part")
  need_kb=$(( (remote_size - have_part) / 1024 ))
  free_kb=$(df -Pk -- "$dir" 2>/dev/null | awk 'NR == 2 { print $4 }') || free_kb=""
  if [[ $free_kb =~ ^[0-9]+$ ]] && [ "$free_kb" -lt "$need_kb" ]; then
    echo "${PROG}: warning: $dir has $(human_size $((free_kb * 1024))) free, $(human_size $((need_kb * 1024))) still needed" >&2
  fi
fi
if [ -n "$expect_sha" ]; then
  info "expected sha256 ($sha_source): $expect_sha"
else
  info "no checksum published or given: sha256 verification will be skipped"
fi

progress=(-sS)
[ -t 2 ] && progress=(--progress-bar)

info "downloading $url"
info "  -> $part (run the same command again to resume if it stops)"
attempt=1
while :; do
  if [ -e "$part" ] && [ -n "$remote_size" ] && [ "$(file_size "$part")" = "$remote_size" ]; then
    break   # complete already (e.g. an earlier run stopped before the rename)
  fi
  [ -e "$part" ] && info "resuming at byte $(file_size "$part")"
  rc=0
  code=$(curl_auth -fL -C - "${progress[@]}" --connect-timeout 30 \
           --speed-limit 1024 --speed-time 120 -w '%{http_code}' -o "$part" "$url") || rc=$?
  if [ "$rc" -eq 0 ]; then
    if [ -z "$remote_size" ] || [ "$(file_size "$part")" = "$remote_size" ]; then
      break
    fi
    echo "${PROG}: transfer ended at $(file_size "$part") of $remote_size bytes" >&2
  else
    case "$code" in
      401|403) die "HTTP $code for $url: access denied. If the repo needs it, pass --token (or set HF_TOKEN)." ;;
      404) die "HTTP 404 for $url: no such file (check --base-url)." ;;
      416) info "server reports the range is not satisfiable: $part is already complete"; break ;;
    esac
    [ "$code" = 000 ] && code=""
    echo "${PROG}: curl failed (exit $rc${code:+, HTTP $code}) on attempt $attempt of $retries" >&2
  fi
  if [ "$attempt" -ge "$retries" ]; then
    die "download failed after $retries attempt(s); $part was kept: run the same command again to resume."
  fi
  sleep $((retry_delay * attempt))
  attempt=$((attempt + 1))
done

[ -e "$part" ] || die "curl reported success but $part does not exist"
if [ -n "$expect_sha" ]; then
  if ! verify_sha256 "$part" "$expect_sha"; then
    rm -f -- "$part"
    die "checksum mismatch ($sha_source); deleted $part. Run again to re-download."
  fi
fi
mv -f -- "$part" "$out"
info "saved $out ($(human_size "$(file_size "$out")"))"
link_model
info "done."
