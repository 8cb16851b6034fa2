#!/usr/bin/env bash
# On the GPU machine: which device runs each SparQ layer's op with every layer offloaded
# (tests/test-sparq-device, patch 0013). For each "model.gguf:DEVICE" argument it checks that every
# layer's op runs on DEVICE (CUDA0 where the kernels take the model's shape, CPU where they don't),
# that llama_set_sparq warns exactly for the layers that fall back, and that the offloaded run's
# logits match an all-CPU run. Output in $OUT/layer-device.txt.
#
# Here first: the patched tree packed as for op-cuda.sh (.device-cuda/tree.tar.xz) and the models
# copied into .device-cuda/, e.g.
#   cp ../shared/models/stories260K-f32.gguf ../shared/models/tinystories-656K-f32.gguf .device-cuda/
# and a small model of head size 128 (random weights, about 11 MB):
#   node -e 'import("./dist/models/synthesize.js").then((m) => m.synthesizeModel({architecture: "tiny-llama",
#     tensorType: "q8_0", overrides: {n_layer: 2, n_embd: 256, n_head: 2, n_head_kv: 1, head_dim: 128, n_ff: 512,
#     tie_word_embeddings: true}, outputPath: ".device-cuda/tiny-d128.gguf"}))'
# then, with carry [".device-cuda"]:
#   bash scripts/device/layer-device.sh stories260K-f32.gguf:CPU tinystories-656K-f32.gguf:CPU tiny-d128.gguf:CUDA0
# It shares op-cuda.sh's tree and build folder (cuda-tree.sh), so either script after the other on one
# machine builds little.
# CMAKE_EXTRA="-DGGML_CUDA_FA=OFF": a fresh build without the flash-attention kernels (a shorter
# build; dense attention then runs on the CPU, the SparQ op where the test says).
set -uo pipefail
R=$(pwd)
source "$R/scripts/device/cuda-tree.sh"
cuda_tree_unpack || exit 1
log="$OUT/layer-device.txt"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$log"

cuda_tree_configure || exit 1
cmake --build build --target test-sparq-device -j"$(nproc)" > "$OUT/build.log" 2>&1 \
  || { grep -E "error|FAILED" "$OUT/build.log" | head -20; exit 2; }

failed=0
for spec in "$@"; do
  model=${spec%%:*} device=${spec##*:}
  echo "== $model, expected on $device" | tee -a "$log"
  ./build/bin/test-sparq-device "$R/.device-cuda/$model" "$device" > "$OUT/run.log" 2>&1
  rc=$?
  grep -E "^(ok  |FAIL|PASSED|FAILED)|can't run the SparQ op" "$OUT/run.log" | tee -a "$log"
  [ $rc -eq 0 ] || failed=1
done
exit $failed
