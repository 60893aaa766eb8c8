#!/usr/bin/env bash
# One GPU-machine session for the CUDA decode work: tests, compute-sanitizer, benchmarks, torch
# comparison; a short table last. Binaries are built elsewhere and carried in $BIN (default devbin/,
# with libbenchmark's shared library beside them when it is not installed there).
#   STEPS="tests sanitize bench trace torch" benchmarks/cuda/device_run.sh [bin_dir]
set -u
BIN=${1:-devbin}
STEPS=${STEPS:-"tests sanitize bench"}
OUT=${OUT:-/tmp/kvshare_out}
mkdir -p "$OUT"
export LD_LIBRARY_PATH=$PWD/$BIN:${LD_LIBRARY_PATH:-}
summary=()
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw --format=csv,noheader

run_test() {   # name, timeout, command...
  local name=$1 limit=$2; shift 2
  local start=$SECONDS
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  summary+=("$(printf '%-28s rc=%-3s %4ss  %s' "$name" "$rc" $((SECONDS - start)) "$(grep -E '^\[doctest\] (test cases|assertions)|ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/$name.log" | tr '\n' ' ' | tr -s ' ')")")
  if [ $rc -ne 0 ]; then grep -E "ERROR|error|FAILED|CHECK|Invalid|Race|values:|rel err" "$OUT/$name.log" | head -40; fi
}

for step in $STEPS; do
  case $step in
    tests)
      run_test cuda_decode 400 "$BIN/cuda_decode"
      run_test cuda_cache 120 "$BIN/cuda_cache"
      [ -x "$BIN/cuda_prefill" ] && run_test cuda_prefill 300 "$BIN/cuda_prefill"
      ;;
    sanitize)
      CS=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
      KVSHARE_TEST_QUICK=1 run_test memcheck_decode 300 "$CS" --tool memcheck --error-exitcode 1 "$BIN/cuda_decode" -tc='*paged*,*masked*,*graph*,*workspace*,*rejects*'
      KVSHARE_TEST_QUICK=1 run_test memcheck_cache 120 "$CS" --tool memcheck --error-exitcode 1 "$BIN/cuda_cache"
      KVSHARE_TEST_QUICK=1 run_test racecheck_decode 300 "$CS" --tool racecheck --error-exitcode 1 "$BIN/cuda_decode" -tc='*masked*,*workspace*'
      KVSHARE_TEST_QUICK=1 run_test synccheck_decode 200 "$CS" --tool synccheck --error-exitcode 1 "$BIN/cuda_decode" -tc='*masked*'
      ;;
    bench)
      timeout 300 "$BIN/kvshare_bench_cuda" --benchmark_filter='ceiling/copy|decode/|decode_graph/' --benchmark_out="$OUT/bench.json" \
        --benchmark_out_format=json 2>&1 | grep -E "median|^---|Benchmark" | tee "$OUT/bench.txt"
      ;;
    ncu)   # one profile per listed decode shape: durations, DRAM throughput, occupancy, stalls
      NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
      for shape in ${NCU_SHAPES:-"B8/L32768/Hq32/Hkv1/D128/contiguous"}; do
        tag=$(echo "$shape" | tr '/' '_')
        timeout 200 "$NCU" --kernel-name regex:decode --launch-skip 12 --launch-count 2 \
          --section SpeedOfLight --section Occupancy --section WarpStateStats --section LaunchStats \
          --metrics "regex:smsp__average_warp_latency_issue_stalled_.*\.ratio,regex:smsp__warp_issue_stalled_.*_per_warp_active\.pct" \
          "$BIN/kvshare_bench_cuda" --benchmark_filter="decode/bf16/$shape/min" >"$OUT/ncu_$tag.txt" 2>&1
        echo "== ncu $shape"
        grep -E "decode_(merge_)?kernel|Duration|DRAM Throughput|SM Active|Warp Cycles Per Issued|stalled" "$OUT/ncu_$tag.txt" | grep -v "^    ---" | awk '$NF+0 > 0.05 || !/stalled/' | head -60
      done
      ;;
    splits)   # split-count scan on the MQA shape
      for n in ${SPLIT_SCAN:-16 24 33 48 66 99 128}; do
        KVSHARE_CUDA_DECODE_SPLITS=$n "$BIN/kvshare_bench_cuda" --benchmark_filter="${SCAN_FILTER:-decode/bf16/B8/L32768/Hq32/Hkv1/D128/contiguous}" \
          --benchmark_repetitions=1 2>/dev/null | grep -E "^decode" | sed "s/^/splits=$n /" | cut -c1-150
      done
      ;;
    trace)   # per-CTA timelines (benchmarks/cuda/trace_decode.cu, built by hand into $BIN)
      if [ -x "$BIN/trace_decode" ]; then for shape in mqa gqa; do "$BIN/trace_decode" $shape; done; fi
      ;;
    torch)
      PYTHONUNBUFFERED=1 timeout 400 python3 benchmarks/compare_torch.py --bench "$BIN/kvshare_bench_cuda" \
        --markdown "$OUT/compare_torch.md" --json "$OUT/compare_torch.json" 2>"$OUT/compare_torch.err"
      tail -5 "$OUT/compare_torch.err"
      ;;
  esac
done
echo "== summary"
printf '%s\n' "${summary[@]}"
if [ -f "$OUT/bench.json" ]; then
  python3 - "$OUT/bench.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
med = {b["run_name"]: b for b in d["benchmarks"] if b.get("aggregate_name") == "median"}
cv = {b["run_name"]: b for b in d["benchmarks"] if b.get("aggregate_name") == "cv"}
copy = next(v["GBps"] for k, v in med.items() if k.startswith("ceiling/copy"))
for k, v in med.items():
    print(f"{k.split('/min_time:')[0]:60s} {v['real_time']:9.1f} us {v['GBps']:7.0f} GB/s  {v['GBps']/copy:5.3f}x copy  cv {cv.get(k, {}).get('real_time', 0):.3f}  host {v.get('host_us', 0):5.2f} us")
PY
fi
[ -f "$OUT/compare_torch.md" ] && { echo "== vs torch"; cat "$OUT/compare_torch.md"; }
true
