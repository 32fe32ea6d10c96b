#!/usr/bin/env bash
# Fuzzes the GGUF reader (src/gguf/reader.cpp) with libFuzzer + AddressSanitizer +
# UndefinedBehaviorSanitizer for DURATION seconds (default 60).
#
#   scripts/fuzz-gguf.sh [DURATION]
#
# Exits non-zero on a build failure or any finding: a crash, a sanitizer report, an
# exception other than dstar::Error, a leak, an allocation over 2 GB or a slow input.
# The crashing input is left in $FUZZ_WORK_DIR/artifacts/ (reproduce with
# `$FUZZ_WORK_DIR/reader_fuzz <file>`).
#
# Environment: CXX_FUZZ (default clang++; needs the libFuzzer runtime, e.g. Debian's
# libclang-rt-14-dev), FUZZ_WORK_DIR (default <repo>/build-fuzz-gguf; keeps the binary and
# the growing corpus between runs).
set -euo pipefail

DURATION=${1:-60}
case "$DURATION" in
  ''|*[!0-9]*) echo "fuzz-gguf.sh: DURATION must be a number of seconds, got '$DURATION'" >&2; exit 2 ;;
esac
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CXX_FUZZ=${CXX_FUZZ:-clang++}
WORK=${FUZZ_WORK_DIR:-$ROOT/build-fuzz-gguf}

if ! command -v "$CXX_FUZZ" >/dev/null 2>&1; then
  echo "fuzz-gguf.sh: '$CXX_FUZZ' not found; install clang (>= 14) and its libFuzzer runtime" >&2
  exit 1
fi

mkdir -p "$WORK/corpus" "$WORK/seeds" "$WORK/artifacts"

# The reader and what it links, compiled directly (no CMake) so this script works from any
# checkout.  -fno-sanitize-recover makes every UBSan report fatal, i.e. a finding.
LIB_SOURCES=("$ROOT"/src/gguf/*.cpp "$ROOT/src/common/error.cpp" "$ROOT/src/common/mapped_file.cpp")
FLAGS=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fno-sanitize-recover=all -I"$ROOT/src")

# Rebuild only when a source or header (or this script) is newer than the binaries.
stale() {
  local bin=$1
  [ -x "$bin" ] || return 0
  [ -n "$(find "$ROOT/src/gguf" "$ROOT/src/common" "$ROOT/tests/gguf" "$ROOT/scripts/fuzz-gguf.sh" \
            -newer "$bin" \( -name '*.cpp' -o -name '*.h' -o -name '*.sh' \) -print -quit)" ]
}

if stale "$WORK/reader_fuzz"; then
  echo "fuzz-gguf.sh: building $WORK/reader_fuzz with $CXX_FUZZ"
  "$CXX_FUZZ" "${FLAGS[@]}" -fsanitize=fuzzer,address,undefined \
    "${LIB_SOURCES[@]}" "$ROOT/tests/gguf/reader_fuzz.cpp" -o "$WORK/reader_fuzz.tmp"
  mv "$WORK/reader_fuzz.tmp" "$WORK/reader_fuzz"
fi
if stale "$WORK/fuzz_seeds"; then
  echo "fuzz-gguf.sh: building $WORK/fuzz_seeds"
  "$CXX_FUZZ" "${FLAGS[@]}" -fsanitize=address,undefined \
    "${LIB_SOURCES[@]}" "$ROOT/tests/gguf/fuzz_seeds.cpp" -o "$WORK/fuzz_seeds.tmp"
  mv "$WORK/fuzz_seeds.tmp" "$WORK/fuzz_seeds"
fi

# Seeds: small valid files written by our own Writer (so the writer runs under the
# sanitizers too), regenerated every run.
rm -f "$WORK"/seeds/*
"$WORK/fuzz_seeds" "$WORK/seeds"
for f in "$WORK"/seeds/*; do
  if [ "$(wc -c < "$f")" -ge 65536 ]; then echo "fuzz-gguf.sh: seed $f is not small" >&2; exit 1; fi
done

# Tokens the mutator cannot easily invent: the magic, the alignment key, common type ids
# and lengths.
cat > "$WORK/gguf.dict" <<'DICT'
magic="GGUF"
version="\x03\x00\x00\x00"
alignment_key="general.alignment"
t_string="\x08\x00\x00\x00"
t_array="\x09\x00\x00\x00"
t_u32="\x04\x00\x00\x00"
t_bool="\x07\x00\x00\x00"
big="\xff\xff\xff\xff\xff\xff\xff\x7f"
one64="\x01\x00\x00\x00\x00\x00\x00\x00"
align64="\x40\x00\x00\x00"
DICT

echo "fuzz-gguf.sh: fuzzing for ${DURATION}s (corpus $WORK/corpus)"
set +e
"$WORK/reader_fuzz" \
  -max_total_time="$DURATION" -max_len=65536 -rss_limit_mb=2048 -timeout=20 \
  -use_value_profile=1 -print_final_stats=1 -dict="$WORK/gguf.dict" \
  -artifact_prefix="$WORK/artifacts/" \
  "$WORK/corpus" "$WORK/seeds" 2>&1 | tee "$WORK/last-run.log" \
  | grep -v -E '^#[0-9]+\s+(NEW|REDUCE|pulse)|^"|^###### '
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
  echo "fuzz-gguf.sh: FINDING (exit status $status); see $WORK/last-run.log and $WORK/artifacts/" >&2
  exit "$status"
fi
echo "fuzz-gguf.sh: no findings"
