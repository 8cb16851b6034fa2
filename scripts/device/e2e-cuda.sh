#!/usr/bin/env bash
# On the GPU machine, in one go: the CUDA build of the addon (sm_90) while synthetic models of real
# architectures are written, then `sparq bench` dense vs SparQ on the GPU for each model.
# Here first: npm install, a build (vendor/ patched), then `bash ../shared/device/pack.sh` (with
# ggml-vocab-llama-spm.gguf.xz as an extra file for llama2-7b's tokenizer); call the device tool with carry [".device"] and, e.g.,
#   bash scripts/device/e2e-cuda.sh "llama3-8b q4_0 4 8k,32k,128k 1" "llama2-7b f16 4 4k,16k,32k 1,8"
# Each argument is one model: architecture, weight type, layers, depths, batch sizes. Results (bench
# reports of every model, logs) come back as $OUT/e2e.tar.gz, the tables also in $OUT/tables.md.
set -uo pipefail
started=$(date +%s)
elapsed() { echo "[$(( $(date +%s) - started )) s] $*"; }

source .device/unpack.sh >/dev/null || exit 1
# one build for every command below: Hopper only
export SPARQ_VENDOR_PREPATCHED=1 SPARQ_CACHE_DIR=/tmp/sparq-cache SPARQ_CMAKE_OPTIONS="CMAKE_CUDA_ARCHITECTURES=90"
# the tree arrives patched but without git history; node-llama-cpp only checks that .git exists
mkdir -p vendor/llama.cpp/.git
# no npm there: node-llama-cpp's build only runs `npm run -s cmake-js-llama -- ARGS` (cd llama && cmake-js ARGS)
cat > /tmp/nodebin/npm <<EOS
#!/usr/bin/env bash
[ "\$1 \$2 \$3 \$4" = "run -s cmake-js-llama --" ] || { echo "npm shim: unsupported: \$*" >&2; exit 1; }
shift 4
cd "$PWD/node_modules/node-llama-cpp/llama" && exec node "$PWD/node_modules/cmake-js/bin/cmake-js" "\$@"
EOS
chmod +x /tmp/nodebin/npm
results=/tmp/e2e && mkdir -p "$results"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader | tee "$results/gpu.txt"
node node_modules/typescript/bin/tsc -p . || exit 1
elapsed "TypeScript compiled"

# the models are written on the CPU while the addon compiles
max_ctx() { local d n m=0; for d in ${1//,/ }; do n=${d%k}; [ "$d" != "$n" ] && n=$((n*1024)); [ "$n" -gt "$m" ] && m=$n; done; echo $m; }
for spec in "$@"; do
    read -r arch type layers depths batches <<<"$spec"
    context=$(( $(max_ctx "$depths") + 1024 ))
    node dist/cli/main.js models synth --arch "$arch" --type "$type" --layers "$layers" --context-length "$context" \
        --out "/tmp/$arch-$type.gguf" > "$results/synth-$arch-$type.log" 2>&1 &
done
node dist/cli/main.js build --gpu cuda > "$results/build.log" 2>&1 || { tail -40 "$results/build.log"; exit 1; }
elapsed "addon built"
wait
elapsed "models synthesized"

for spec in "$@"; do
    read -r arch type layers depths batches <<<"$spec"
    name="$arch-$type"
    node dist/cli/main.js bench --model "/tmp/$name.gguf" --gpu cuda --ctx "$depths" --batch "$batches" \
        --modes dense,sparq:8,sparq:4 --tg 32 --repeat 2 --out "$results/$name" 2>&1 | tee "$results/bench-$name.log" | grep -v "filled"
    elapsed "bench $name done"
    find "$results/$name" -name bench.md -exec cat {} + >> "$OUT/tables.md"
    tar -czf "$OUT/e2e.tar.gz" -C "$results" .
done
