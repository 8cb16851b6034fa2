# Sourced by the device scripts (op-cuda.sh, layer-device.sh), so that they share one tree and one
# build folder on a machine: the patched tree of .device-cuda/tree.tar.xz in /tmp/sparq-op, and its
# sm_90 configuration with the tests. Needs R (the checkout) and OUT.
W=/tmp/sparq-op

# unpacks the tree once per machine and enters it
cuda_tree_unpack() {
  mkdir -p "$W" && cd "$W" || return 1
  [ -f CMakeLists.txt ] || tar -xJf "$R/.device-cuda/tree.tar.xz" -C "$W"
}

# configures the build folder once per machine; CMAKE_EXTRA adds options to a fresh configuration
cuda_tree_configure() {
  [ -f build/build.ninja ] && return 0
  cmake -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DLLAMA_BUILD_TESTS=ON -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_HTTPLIB=OFF -DGGML_NATIVE=ON -DCMAKE_CUDA_FLAGS=-lineinfo \
    ${CMAKE_EXTRA:-} > "$OUT/cmake.log" 2>&1 || { tail -30 "$OUT/cmake.log"; return 1; }
}
