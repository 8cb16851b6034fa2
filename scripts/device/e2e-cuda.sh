#!/usr/bin/env bash
# On the GPU machine, in one go: the CUDA build of the addon (sm_90) while synthetic models of real
# architectures are written, then `sparq bench` dense vs SparQ on the GPU for each model.
# Here first: npm install, a build (vendor/ patched), then `bash ../shared/device/pack.sh` (with
# ggml-vocab-llama-spm.gguf.xz as an extra file for llama2-7b's tokenizer, and
# ../shared/data/wikitext-2-raw-test.txt for a perplexity check of the first model; if it warns that
# .device is over 60 MiB, pack node_modules.tar.xz again without node_modules/@rolldown, @esbuild
# and lightningcss-linux-x64-gnu, which only the tests use); call the device tool with carry [".device"] and, e.g.,
#   bash scripts/device/e2e-cuda.sh "llama3-8b q4_0 4 8k,32k,128k 1" "llama2-7b f16 4 4k,16k,32k 1,8"
# Each argument is one model: architecture, weight type, layers, depths, batch sizes (every depth with
# every batch size; a model named again, e.g. with other batch sizes, is written once). Results (bench
# reports of every model, logs) come back as $OUT/e2e.tar.gz, the tables also in $OUT/tables.md.
# REPEAT=n: rounds of each bench (default 2).
# QUIET_S=n: seconds each bench may wait for the host's load average to fall under 4 (default 120).
# DENSE_BELOW=0: SparQ modes run the op at every depth (sparq bench --dense-below; with every layer on
# CUDA the default keeps shorter KV lengths on dense attention: defaultDenseBelow in src/sparq/settings.ts).
# HOST_STEPS="1024 131072": after each bench, scripts/device/host-steps.mjs at these depths (wall time
# per dense step against llama.cpp's own eval time: the host's share).
# PROFILE=1: instead of the benchmarks, where a decode step's GPU time goes, dense vs SparQ 8x, at
# each depth and the first batch of each model (PROFILE_THREADS=n: again with n CPU threads): one
# traced run each (CUPTI through scripts/device/kernel-trace.cpp, as the machine has no Nsight
# Systems), summed per kernel family by scripts/device/kernel-steps.py, in $OUT/kernels.txt.
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
export PATH=$PATH:/usr/local/cuda/bin
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader | tee "$results/gpu.txt"
node node_modules/typescript/bin/tsc -p . || exit 1
elapsed "TypeScript compiled"

# the kernel tracer, against the toolkit's CUPTI (its record structs carry a version in their names)
build_tracer() {
    local cupti lib kernel memset
    for cupti in /usr/local/cuda/extras/CUPTI /usr/local/cuda \
            $(python3 -c 'import nvidia.cuda_cupti as c, os; print(os.path.dirname(c.__file__))' 2>/dev/null); do
        [ -f "$cupti/include/cupti_activity.h" ] && break
    done
    [ -f "$cupti/include/cupti_activity.h" ] || { echo "no CUPTI headers found"; return 1; }
    newest() { grep -ohE "\} $1[0-9]*;" "$cupti"/include/cupti_activity*.h | grep -oE "$1[0-9]*" | sort -V | tail -1; }
    kernel=$(newest CUpti_ActivityKernel) memset=$(newest CUpti_ActivityMemset)
    lib=$(ls "$cupti"/lib64/libcupti.so* "$cupti"/lib/libcupti.so* 2>/dev/null | head -1)
    g++ -O2 -shared -fPIC -DKERNEL_RECORD="$kernel" -DMEMSET_RECORD="$memset" -I"$cupti/include" -I/usr/local/cuda/include \
        scripts/device/kernel-trace.cpp "$lib" -Wl,-rpath,"$(dirname "$lib")" -o /tmp/kernel-trace.so
}

if [ "${PROFILE:-0}" = 1 ]; then
    build_tracer > "$results/tracer.log" 2>&1 || { cat "$results/tracer.log"; exit 1; }
fi

# the models are written on the CPU while the addon compiles, one after the other
# one file per architecture, weight type and layer count, e.g. llama3-8b-q4_0-32l
model_name() { echo "$1-$2-$3l"; }
max_ctx() { local d n m=0; for d in ${1//,/ }; do n=${d%k}; [ "$d" != "$n" ] && n=$((n*1024)); [ "$n" -gt "$m" ] && m=$n; done; echo $m; }
synth() {
    local arch type layers depths batches name ctx
    read -r arch type layers depths batches <<<"$1"
    name=$(model_name "$arch" "$type" "$layers") ctx=$(( $(max_ctx "$depths") + 1024 ))
    # written by an earlier argument or an earlier call on this machine, long enough: kept
    local have; have=$(cat "/tmp/$name.ready" 2>/dev/null)
    [ "${have:-0}" -ge "$ctx" ] 2>/dev/null && return 0
    rm -f "/tmp/$name.ready"
    node dist/cli/main.js models synth --arch "$arch" --type "$type" --layers "$layers" \
        --context-length "$ctx" --out "/tmp/$name.gguf" > "$results/synth-$name.log" 2>&1 &&
        echo "$ctx" > "/tmp/$name.ready" || touch "/tmp/$name.failed"
}
# waits for a model; false (with its log) if it could not be written
ready() {
    while [ ! -f "/tmp/$1.ready" ] && [ ! -f "/tmp/$1.failed" ]; do sleep 2; done
    [ -f "/tmp/$1.ready" ] || { tail -5 "$results/synth-$1.log"; return 1; }
}
save() { tar -czf "$OUT/e2e.tar.gz" -C "$results" .; }
# waits (at most QUIET_S seconds, default 120) until the host's 1-minute load average is under 4:
# after a fresh machine's addon build the bench's rounds scattered with the load at 9-13; the top
# processes at the start go to host-load.txt
quiet_host() {
    local waited=0
    # top's second sample: the first has no interval to measure CPU use over
    { echo "## before $1: $(cut -d' ' -f1-3 /proc/loadavg)"; top -b -n2 -d1 | awk '/^top -/ {n++} n == 2' | sed -n 7,20p; } >> "$results/host-load.txt"
    while [ "$waited" -lt "${QUIET_S:-120}" ] && awk '{exit !($1 >= 4)}' /proc/loadavg; do sleep 5; waited=$((waited + 5)); done
    elapsed "host load $(cut -d' ' -f1 /proc/loadavg) after waiting $waited s"
}
(for spec in "$@"; do synth "$spec"; done) &
node dist/cli/main.js build --gpu cuda > "$results/build.log" 2>&1 || { tail -40 "$results/build.log"; save; exit 1; }
elapsed "addon built"; save

# the integrated path on this GPU first: r = d with k = 1023 (every position but in the window's last
# step; views of at most 1023 cells run dense attention) must score like dense, 8x close to it
if [ -f .device/wikitext-2-raw-test.txt ] && [ "${PROFILE:-0}" != 1 ]; then
    read -r arch type layers _ <<<"$1"
    name=$(model_name "$arch" "$type" "$layers")
    ready "$name" && node dist/cli/main.js eval perplexity --model "/tmp/$name.gguf" --text .device/wikitext-2-raw-test.txt \
        --settings dense,r128k1023,ratio:8 --ctx 1024 --prefill 256 --windows 1 --quiet --out "$results/eval" 2>&1 | tee "$OUT/eval.txt"
    elapsed "eval done"; save
fi

# one traced run of dense and SparQ 8x (the trace slows both modes: compare steps, not t/s)
profile() { # model depth batch [threads]
    local name=$1 depth=$2 batch=$3 threads=${4:-} run="$1-$2${4:+-t$4}"
    CUDA_INJECTION64_PATH=/tmp/kernel-trace.so SPARQ_TRACE="/tmp/trace-$run.tsv" \
        node dist/cli/main.js bench --model "/tmp/$name.gguf" --gpu cuda --ctx "$depth" --batch "$batch" ${threads:+--threads "$threads"} \
        ${DENSE_BELOW:+--dense-below "$DENSE_BELOW"} \
        --modes dense,sparq:8 --tg 32 --repeat 1 --out "/tmp/prof-$run" > "$results/prof-$run.log" 2>&1 || return 1
    { echo "## $name, ctx $depth, batch $batch${threads:+, $threads CPU threads}: dense and SparQ 8x, one traced run"
      grep -h "^| $name" "/tmp/prof-$run/bench.md"
      python3 scripts/device/kernel-steps.py "/tmp/trace-$run.tsv"
      echo; } >> "$OUT/kernels.txt"
}

for spec in "$@"; do
    read -r arch type layers depths batches <<<"$spec"
    name=$(model_name "$arch" "$type" "$layers")
    ready "$name" || continue
    if [ "${PROFILE:-0}" = 1 ]; then
        for depth in ${depths//,/ }; do
            for threads in "" ${PROFILE_THREADS:-}; do
                profile "$name" "$depth" "${batches%%,*}" $threads || tail -20 "$results"/prof-"$name-$depth"*.log
                elapsed "profile $name $depth${threads:+, $threads threads} done"; save
            done
        done
        continue
    fi
    elapsed "model $name ready"
    quiet_host "$name"
    node dist/cli/main.js bench --model "/tmp/$name.gguf" --gpu cuda --ctx "$depths" --batch "$batches" ${DENSE_BELOW:+--dense-below "$DENSE_BELOW"} \
        --modes dense,sparq:8,sparq:4 --tg 32 --repeat "${REPEAT:-2}" --out "$results/$name" 2>&1 | tee "$results/bench-$name.log" | grep -v "filled"
    elapsed "bench $name done"
    find "$results/$name" -name bench.md -exec cat {} + >> "$OUT/tables.md"
    if [ -n "${HOST_STEPS:-}" ]; then
        { echo "## $name: the host's share of a dense decode step"
          node scripts/device/host-steps.mjs "/tmp/$name.gguf" $HOST_STEPS 2>&1 | grep "^|"
          echo; } | tee -a "$OUT/tables.md"
        elapsed "host steps $name done"
    fi
    save
done
