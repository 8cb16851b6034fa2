#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, only those missing.
#   cmake, g++, git, ninja-build: compile llama.cpp through node-llama-cpp (cmake-js)
#   ccache: makes rebuilds after a patch edit take seconds instead of minutes
#   qemu-user, g++-aarch64-linux-gnu: cross-build and run the NEON kernels' tests
set -euo pipefail
declare -A needs=(
    [cmake]=cmake [g++]=g++ [git]=git [ninja]=ninja-build [ccache]=ccache
    [qemu-aarch64]=qemu-user [aarch64-linux-gnu-g++]=g++-aarch64-linux-gnu
)
missing=()
for tool in "${!needs[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("${needs[$tool]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
