#!/usr/bin/env bash
# Configures and builds dstar in ./build (Release).  Extra arguments go to cmake, e.g.
#   scripts/build.sh -DDSTAR_CUDA=ON
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${DSTAR_BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release "$@" > /dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"
