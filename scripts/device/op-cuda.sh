#!/usr/bin/env bash
# The SparQ CUDA ops on the GPU machine, in one go: build for sm_90, test-backend-ops SPARQ_ATTN_EXT
# and SPARQ_UPDATE (CUDA vs CPU, with their largest errors), bench-sparq-cuda (SparQ vs dense flash attention), compute-sanitizer memcheck, ncu
# per-kernel times. Logs and summary.txt under $OUT; the GPU is named in gpu.txt and the summary.
#
# Here first, pack the patched vendor tree (about 11 MB) into the git-ignored .device-cuda/:
#   mkdir -p .device-cuda
#   git -C vendor/llama.cpp archive --format=tar sparq -- . ':!models' | xz -T2 -6 > .device-cuda/tree.tar.xz
# then call the device tool with carry [".device-cuda"] and `bash scripts/device/op-cuda.sh`.
# Env: PATCH_CU=1     build with the kernel files in .device-cuda/cu/ (sparq-attn*.cu, *.cuh) instead of the tree's
#      MAX_S=131072   largest S of the bench (from 4096, doubling)
#      NCU=0          skip the ncu profile;  MULTI=1  also bench the multi-launch path (32k and below)
#      STEPS=1        cycles per step of the fused kernel (GGML_CUDA_SPARQ_PROFILE=1)
#      HOST_TEST=1    also build and run test-sparq-attn --quick (the CPU op, on the host's SIMD)
#      BATCH=8        also bench 8 sequences decoded together (one KV stream each), S = 4k..32k
#      HKV=32         also bench 32 KV heads (no GQA: the Llama-2-7B shape), S = 4k..32k, and the
#                     per-step times of STOP_S with them
#      STOP_S="32768 131072"  per-step times of the multi-launch path at these S (GGML_CUDA_SPARQ_STOP)
#      CMP_ENV="GGML_CUDA_SPARQ_ONE_CHUNK=1"  also bench with these settings, same run (A/B of a switch;
#                     several sets separated by ';')
#      PDL_OFF=1      also bench with programmatic dependent launch off (GGML_CUDA_PDL=0), same run
#      NCU_DETAIL="131072"  ncu sections (occupancy, issue, stalls) of the multi-launch kernels at these S
#      NCU_SRC="131072"  warp-stall samples per source line of each multi-launch kernel at these S
#                     (ncu SourceCounters; the fused kernel too where S takes the fused path; the
#                     build has -lineinfo for this, which leaves the generated code as it is)
#      NCU_SRC_K="sq_scores sq_attn"  the kernels of NCU_SRC (default: all)
#      BASE_CU=1      then rebuild with the kernel files in .device-cuda/base/ and bench it again (A/B)
#      QUICK=1        skip the test and the bench (profiling runs of code already tested)
#      RACE=1         compute-sanitizer racecheck, multi-launch path and default paths, d = 80 and 128
#                     (d = 80 with 8 heads per selection: 129-255 P.V quads per block)
#      LIMIT=550      seconds this script may use (later steps are skipped when time runs out)
set -uo pipefail
R=$(pwd)
T0=$(date +%s)
el() { echo $(( $(date +%s) - T0 )); }
left() { echo $(( ${LIMIT:-550} - $(el) )); }
say() { echo "[$(el) s] $*" | tee -a "$OUT/summary.txt"; }
CS=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)

source "$R/scripts/device/cuda-tree.sh"
cuda_tree_unpack || exit 1
[ -n "${PATCH_CU:-}" ] && cp "$R"/.device-cuda/cu/sparq-attn* ggml/src/ggml-cuda/
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,memory.used --format=csv > "$OUT/gpu.txt" 2>&1
say "GPU: $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"

cuda_tree_configure || exit 1
targets="test-backend-ops bench-sparq-cuda"
[ "${HOST_TEST:-0}" = 1 ] && targets="$targets test-sparq-attn"
build_s=$(( $(left) - 120 )) # a fresh machine's build takes 300-350 s
timeout $build_s cmake --build build --target $targets -j"$(nproc)" > "$OUT/build.log" 2>&1
rc=$?
say "build rc=$rc"
[ $rc -eq 124 ] && say "the build ran out of its $build_s s: LIMIT leaves the build LIMIT - 120 s"
[ $rc -ne 0 ] && { grep -E "error|FAILED" "$OUT/build.log" | head -20; tail -5 "$OUT/build.log"; exit 2; }

if [ "${QUICK:-0}" != 1 ]; then
timeout 170 ./build/bin/test-backend-ops -o SPARQ_ATTN_EXT -b CUDA0 > "$OUT/test.log" 2>&1
say "test rc=$? cases OK: $(grep -ac ': .*OK' "$OUT/test.log"), FAIL: $(grep -ac 'FAIL' "$OUT/test.log")"
grep -aE "tests passed" "$OUT/test.log" | tail -1 | tee -a "$OUT/summary.txt"
grep -a "FAIL" "$OUT/test.log" | head -10
grep -a "vs CPU: largest" "$OUT/test.log" | tee -a "$OUT/summary.txt"
timeout 60 ./build/bin/test-backend-ops -o SPARQ_UPDATE -b CUDA0 > "$OUT/test-update.log" 2>&1
say "test SPARQ_UPDATE rc=$? $(grep -aE 'tests passed' "$OUT/test-update.log" | tail -1) FAIL: $(grep -ac FAIL "$OUT/test-update.log")"
grep -a "vs CPU: largest" "$OUT/test-update.log" | tee -a "$OUT/summary.txt"

timeout 120 ./build/bin/bench-sparq-cuda "${MAX_S:-131072}" CUDA0 > "$OUT/bench.log" 2>&1
say "bench rc=$?"
grep -v warmup "$OUT/bench.log" | tee -a "$OUT/summary.txt"
fi

IFS=';' read -ra cmps <<< "${CMP_ENV:-}"
for i in "${!cmps[@]}"; do
  [ "$(left)" -gt 100 ] || break
  env ${cmps[$i]} timeout 120 ./build/bin/bench-sparq-cuda "${MAX_S:-131072}" CUDA0 > "$OUT/bench-cmp-$i.log" 2>&1
  say "bench, ${cmps[$i]}: rc=$?"
  grep -v warmup "$OUT/bench-cmp-$i.log" | tail -n +4 | tee -a "$OUT/summary.txt"
done

if [ "${PDL_OFF:-0}" = 1 ] && [ "$(left)" -gt 100 ]; then
  GGML_CUDA_PDL=0 timeout 120 ./build/bin/bench-sparq-cuda "${MAX_S:-131072}" CUDA0 > "$OUT/bench-pdl-off.log" 2>&1
  say "bench, PDL off: rc=$?"
  grep -v warmup "$OUT/bench-pdl-off.log" | tail -n +4 | tee -a "$OUT/summary.txt"
fi

if [ "${MULTI:-0}" = 1 ] && [ "$(left)" -gt 100 ]; then
  GGML_CUDA_SPARQ_MULTI=1 timeout 90 ./build/bin/test-backend-ops -o SPARQ_ATTN_EXT -b CUDA0 -p "n_kv=(7|1000|4096|131072)," \
    > "$OUT/test-multi.log" 2>&1
  say "test, multi-launch path forced: rc=$? $(grep -aE 'tests passed' "$OUT/test-multi.log" | tail -1) FAIL: $(grep -ac FAIL "$OUT/test-multi.log")"
  grep -a "vs CPU: largest" "$OUT/test-multi.log" | tee -a "$OUT/summary.txt"
fi

if [ "${RACE:-0}" = 1 ] && [ "$(left)" -gt 80 ]; then
  GGML_CUDA_SPARQ_MULTI=1 timeout 60 "$CS" --tool racecheck ./build/bin/test-backend-ops -o SPARQ_ATTN_EXT -b CUDA0 \
    -p "^d=(80|128),n_kv=(1000|4096),n_head_kv=2,n_gqa=(4|8)," > "$OUT/racecheck.log" 2>&1
  say "racecheck, multi-launch path: rc=$? $(grep -aE 'RACECHECK SUMMARY|ERROR SUMMARY' "$OUT/racecheck.log" | tail -1) $(grep -aE 'tests passed' "$OUT/racecheck.log" | tail -1)"
  # one head per selection (no GQA, or the per-head mode)
  GGML_CUDA_SPARQ_MULTI=1 timeout 40 "$CS" --tool racecheck ./build/bin/test-backend-ops -o SPARQ_ATTN_EXT -b CUDA0 \
    -p "^d=128,n_kv=(1000|4096),n_head_kv=2,(n_gqa=1,|n_gqa=4,n_tokens=4,ne3=1,r=16,k_top=256,l=64,flags=3,)" > "$OUT/racecheck-nsel1.log" 2>&1
  say "racecheck, one head per selection: rc=$? $(grep -aE 'RACECHECK SUMMARY|ERROR SUMMARY' "$OUT/racecheck-nsel1.log" | tail -1) $(grep -aE 'tests passed' "$OUT/racecheck-nsel1.log" | tail -1)"
  # racecheck is slow on the cluster kernel: three cases
  timeout 50 "$CS" --tool racecheck ./build/bin/test-backend-ops -o SPARQ_ATTN_EXT -b CUDA0 \
    -p "^d=128,n_kv=1000,n_head_kv=2,n_gqa=4,n_tokens=1,ne3=1," > "$OUT/racecheck-fused.log" 2>&1
  say "racecheck, default paths: rc=$? $(grep -aE 'RACECHECK SUMMARY|ERROR SUMMARY' "$OUT/racecheck-fused.log" | tail -1) $(grep -aE 'tests passed' "$OUT/racecheck-fused.log" | tail -1)"
fi

if [ -n "${BATCH:-}" ] && [ "$(left)" -gt 90 ]; then
  timeout 60 ./build/bin/bench-sparq-cuda 32768 CUDA0 4096 "$BATCH" > "$OUT/bench-batch.log" 2>&1
  say "bench, batch $BATCH: rc=$?"
  grep -v warmup "$OUT/bench-batch.log" | tail -n +4 | tee -a "$OUT/summary.txt"
  if [ -n "${CMP_ENV:-}" ] && [ "$(left)" -gt 90 ]; then
    env ${CMP_ENV%%;*} timeout 60 ./build/bin/bench-sparq-cuda 32768 CUDA0 4096 "$BATCH" > "$OUT/bench-batch-cmp.log" 2>&1
    say "bench, batch $BATCH, $CMP_ENV: rc=$?"
    grep -v warmup "$OUT/bench-batch-cmp.log" | tail -n +4 | tee -a "$OUT/summary.txt"
  fi
fi

if [ "$(left)" -gt 70 ]; then
  timeout 60 "$CS" --tool memcheck --leak-check no ./build/bin/test-backend-ops -o SPARQ_ATTN_EXT -b CUDA0 \
    -p "^d=(64|128),n_kv=(7|1000|4096)," > "$OUT/memcheck.log" 2>&1
  say "memcheck rc=$? $(grep -aE 'ERROR SUMMARY' "$OUT/memcheck.log" | tail -1) $(grep -aE 'tests passed' "$OUT/memcheck.log" | tail -1)"
  timeout 30 "$CS" --tool memcheck --leak-check no ./build/bin/test-backend-ops -o SPARQ_UPDATE -b CUDA0 > "$OUT/memcheck-update.log" 2>&1
  say "memcheck SPARQ_UPDATE rc=$? $(grep -aE 'ERROR SUMMARY' "$OUT/memcheck-update.log" | tail -1) $(grep -aE 'tests passed' "$OUT/memcheck-update.log" | tail -1)"
fi

if [ "${HOST_TEST:-0}" = 1 ]; then
  timeout 60 ./build/bin/test-sparq-attn --quick > "$OUT/test-sparq-attn.log" 2>&1
  say "test-sparq-attn rc=$? $(tail -1 "$OUT/test-sparq-attn.log")"
fi

if [ "${MULTI:-0}" = 1 ] && [ "$(left)" -gt 60 ]; then
  GGML_CUDA_SPARQ_MULTI=1 timeout 50 ./build/bin/bench-sparq-cuda 32768 CUDA0 > "$OUT/bench-multi.log" 2>&1
  say "bench, multi-launch path: rc=$?"
  grep -v warmup "$OUT/bench-multi.log" | tail -n +4 | tee -a "$OUT/summary.txt"
fi

# ms per op with only the first n steps of the multi-launch path launched (n = 1..4: A, B, C, D):
# consecutive differences are the steps' times inside the graph
steps() { # S [n_head_kv]
  local line="${STEP_TAG:-}multi-launch steps, S=$1${2:+, $2 KV heads}, 8x / 4x ms with steps 1..n:"
  for n in 1 2 3 4; do
    line="$line | $n: $(GGML_CUDA_SPARQ_MULTI=1 GGML_CUDA_SPARQ_STOP=$n timeout 30 ./build/bin/bench-sparq-cuda $1 CUDA0 $1 1 ${2:-8} 2>&1 \
      | awk '$2 ~ /^[48]x$/ { printf "%s ", $10 }')"
  done
  say "$line"
}
for S in ${STOP_S:-}; do
  [ "$(left)" -lt 40 ] && break
  steps "$S"
done

if [ -n "${HKV:-}" ] && [ "$(left)" -gt 60 ]; then
  GGML_CUDA_SPARQ_VERBOSE=1 timeout 60 ./build/bin/bench-sparq-cuda 32768 CUDA0 4096 1 "$HKV" > "$OUT/bench-hkv.log" 2>&1
  say "bench, $HKV KV heads: rc=$?"
  grep -v warmup "$OUT/bench-hkv.log" | tail -n +4 | tee -a "$OUT/summary.txt"
  if [ "${MULTI:-0}" = 1 ]; then
    GGML_CUDA_SPARQ_MULTI=1 timeout 60 ./build/bin/bench-sparq-cuda 32768 CUDA0 4096 1 "$HKV" > "$OUT/bench-hkv-multi.log" 2>&1
    say "bench, $HKV KV heads, multi-launch path: rc=$?"
    grep -v warmup "$OUT/bench-hkv-multi.log" | tail -n +5 | tee -a "$OUT/summary.txt"
  fi
  for S in ${STOP_S:-}; do
    [ "$S" -le 32768 ] && [ "$(left)" -gt 40 ] && steps "$S" "$HKV"
  done
fi

# per-kernel device times (ncu: caches flushed, base clocks): the first SparQ launches of a bench at
# one S are its 8x op (multi-launch path: its kernels in order), the first flash_attn ones dense
NCUB=/usr/local/cuda/bin/ncu
prof() { # S kernel-regex count
  [ "${NCU:-1}" = 0 ] || [ "$(left)" -lt 45 ] && return
  timeout 40 "$NCUB" --kernel-name regex:"$2" --launch-count $3 --metrics gpu__time_duration.sum,dram__bytes_read.sum \
    ./build/bin/bench-sparq-cuda $1 CUDA0 $1 > "$OUT/ncu_$1_$2.log" 2>&1
  say "ncu S=$1 $2 rc=$?"
  grep -aE "^  [a-zA-Z_].*\(|gpu__time|dram__" "$OUT/ncu_$1_$2.log" | sed -E 's/\(.*\) \(/ (/; s/, Context.*//' \
    | cut -c1-90 | paste - - - | tee -a "$OUT/summary.txt"
}
prof 32768 sq_ 4
prof 32768 flash_attn 2
prof 131072 sq_ 4

# why each kernel of the multi-launch path takes its time at these S (8x): occupancy, issue rate and
# ncu's own reading of the warp stalls, one kernel after the other
for S in ${NCU_DETAIL:-}; do
  [ "$(left)" -lt 60 ] && break
  GGML_CUDA_SPARQ_MULTI=1 timeout 50 "$NCUB" --kernel-name regex:sq_ --launch-count 4 --section SpeedOfLight --section Occupancy \
    --section LaunchStats --section WarpStateStats --section SchedulerStats ./build/bin/bench-sparq-cuda $S CUDA0 $S > "$OUT/ncu-detail_$S.log" 2>&1
  say "ncu detail S=$S rc=$?"
  grep -aE "^  sq_|Duration|DRAM Throughput|L2 Cache Throughput|Achieved Occupancy|Theoretical Occupancy|Registers Per|Waves Per SM|Warp Cycles Per Issued|Issued Warp Per Scheduler|Grid Size|Block Size" \
    "$OUT/ncu-detail_$S.log" | sed -E 's/\(sq_args\).*//; s/ +/ /g' | tee -a "$OUT/summary.txt"
  grep -aoE "spends on average [0-9.]+ cycles being stalled [^.]*\." "$OUT/ncu-detail_$S.log" | tee -a "$OUT/summary.txt"
done

# where each kernel's warps wait, per source line (8x op; the bench's first launches)
for S in ${NCU_SRC:-}; do
  for K in ${NCU_SRC_K:-sq_scores sq_hist1 sq_compact sq_attn sq_fused}; do
    [ "$(left)" -lt 40 ] && break
    multi=1; [ $K = sq_fused ] && multi=0
    GGML_CUDA_SPARQ_MULTI=$multi timeout 60 "$NCUB" --kernel-name regex:"$K" --launch-count 1 --section WarpStateStats \
      --section SourceCounters --import-source yes -f -o "/tmp/src_${S}_$K" ./build/bin/bench-sparq-cuda $S CUDA0 $S > "$OUT/ncu-src_${S}_$K.log" 2>&1
    [ -f "/tmp/src_${S}_$K.ncu-rep" ] || continue
    "$NCUB" -i "/tmp/src_${S}_$K.ncu-rep" --page source --csv --print-source cuda,sass > "$OUT/src_${S}_$K.csv" 2>&1
    say "ncu source lines S=$S $K:"
    python3 "$R/scripts/device/ncu-lines.py" "$OUT/src_${S}_$K.csv" sparq-attn 25 | tee -a "$OUT/summary.txt"
  done
done

# cycles of the fused kernel's steps (printed by CTA 0 and the last CTA of the first unit)
if [ "${STEPS:-0}" = 1 ]; then
  for S in 4096 32768; do
    [ "$(left)" -lt 25 ] && break
    GGML_CUDA_SPARQ_PROFILE=1 GGML_CUDA_SPARQ_VERBOSE=1 timeout 20 ./build/bin/bench-sparq-cuda $S CUDA0 $S 2>&1 \
      | grep -a -m 9 "sqprof\|sparq fused" | tee -a "$OUT/summary.txt"
  done
fi
# the same benches and steps with the kernel files in .device-cuda/base/ (the kernels before a change),
# built into the same tree last: an A/B of a kernel change on one machine
if [ "${BASE_CU:-0}" = 1 ] && [ "$(left)" -gt 100 ]; then
  cp "$R"/.device-cuda/base/sparq-attn* ggml/src/ggml-cuda/
  timeout $(( $(left) - 40 )) cmake --build build --target bench-sparq-cuda -j"$(nproc)" > "$OUT/build-base.log" 2>&1
  say "build with the base kernels rc=$?"
  if [ "${QUICK:-0}" != 1 ]; then
    timeout 60 ./build/bin/bench-sparq-cuda "${MAX_S:-131072}" CUDA0 > "$OUT/bench-base.log" 2>&1
    say "bench, base kernels: rc=$?"
    grep -v warmup "$OUT/bench-base.log" | tail -n +4 | tee -a "$OUT/summary.txt"
  fi
  if [ -n "${HKV:-}" ] && [ "$(left)" -gt 20 ]; then
    timeout 60 ./build/bin/bench-sparq-cuda 32768 CUDA0 4096 1 "$HKV" > "$OUT/bench-hkv-base.log" 2>&1
    say "bench, $HKV KV heads, base kernels: rc=$?"
    grep -v warmup "$OUT/bench-hkv-base.log" | tail -n +4 | tee -a "$OUT/summary.txt"
  fi
  for S in ${STOP_S:-}; do
    [ "$(left)" -lt 40 ] && break
    STEP_TAG="base kernels, " steps "$S"
  done
fi

say "done"
# the tool brings back few files: the logs go in one archive
cd "$OUT" && tar -czf /tmp/sparq-op-logs.tar.gz --exclude=summary.txt . && find . -type f ! -name summary.txt -delete \
  && mv /tmp/sparq-op-logs.tar.gz logs.tar.gz
