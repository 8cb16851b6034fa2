#!/usr/bin/env bash
# On the GPU machine, in one go: the CUDA build of the addon (sm_90), a synthetic model of a real
# architecture, and `sparq bench` dense vs SparQ on the GPU. Results under $OUT.
# Here first: npm install, a build (vendor/ patched), then `bash ../shared/device/pack.sh`; call the
# device tool with carry [".device"] and `bash scripts/device/e2e-cuda.sh [arch] [layers] [ctx list]`.
set -uo pipefail
arch=${1:-llama3-8b}
layers=${2:-}
contexts=${3:-1k,4k,16k}
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
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader | tee "$OUT/gpu.txt"
node node_modules/typescript/bin/tsc -p . || exit 1
elapsed "TypeScript compiled"
node dist/cli/main.js build --gpu cuda > "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
elapsed "addon built"
model=/tmp/model.gguf
node dist/cli/main.js models synth --arch "$arch" ${layers:+--layers "$layers"} --type f16 --context-length 32768 --out "$model" 2>&1 | tail -2
elapsed "model synthesized"
node dist/cli/main.js bench --model "$model" --gpu cuda --ctx "$contexts" --modes dense,sparq:8,sparq:4 --tg 32 --repeat 2 --out "$OUT/bench" 2>&1 | tee "$OUT/bench.log" | tail -20
elapsed "bench done"
