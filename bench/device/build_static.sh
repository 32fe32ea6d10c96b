#!/usr/bin/env bash
# Builds statically linked dstar tools into build-dev/bin for the device machine (its image
# has CMake and compilers but not our Debian dependencies).  Carry build-dev/bin in the
# device call, e.g. `run carry=["build-dev/bin"] command="bench/device/hf_crosscheck.sh build-dev/bin"`.
set -euo pipefail
cd "$(dirname "$0")/../.."
cmake -S . -B build-dev -G Ninja -DCMAKE_BUILD_TYPE=Release -DDSTAR_TESTS=OFF -DDSTAR_BENCH=OFF \
      -DCMAKE_EXE_LINKER_FLAGS="-static" "$@" > /dev/null
ninja -C build-dev dstar dstar-gguf dstar-bench > /dev/null
mkdir -p build-dev/bin
cp build-dev/src/cli/dstar build-dev/src/cli/dstar-gguf build-dev/src/cli/dstar-bench build-dev/bin/
strip build-dev/bin/*
ls -la build-dev/bin
