#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: installs the dependencies (Debian packages,
# npm packages), builds with warnings as errors, and runs every test through CTest (GoogleTest
# suites, the ds4 oracle comparison, the npm tokenizer comparison, the GGUF fuzzer for a
# bounded time, end-to-end CLI tests).  .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export DSTAR_BUILD_DIR=${DSTAR_BUILD_DIR:-build}
scripts/build.sh -DDSTAR_WERROR=ON -DDSTAR_TESTS=ON
ctest --test-dir "$DSTAR_BUILD_DIR" --output-on-failure -j "$(nproc)" "$@"
