#!/usr/bin/env python3
"""The CPU speed targets of issue 3, checked by repeated runs of kvshare_bench_cpu.

Each run is one process of the benchmark binary with interleaved repetitions
(--benchmark_enable_random_interleaving), so a kernel and the ceiling it is compared with are sampled
over the same minutes of a shared host. Per run: the medians of the repetitions and their ratio to the
run's own ceiling; over runs: the median of those ratios and how many runs met the target.

  python3 benchmarks/cpu_targets.py --bench build/benchmarks/kvshare_bench_cpu --runs 3
  python3 benchmarks/cpu_targets.py --bench build/benchmarks/kvshare_bench_cpu --runs 2 --decode

Targets (issue 3, 2 threads): causal prefill fp32 GQA 32/8 d 128 S 2048 >= 75% of ceiling/fma_fp32;
the same with bf16 inputs >= 250 GFLOP/s; decode L 16384 >= 90% of ceiling/read_stream.
"""
import argparse
import json
import statistics
import subprocess
import tempfile

PREFILL_FILTER = ("ceiling/(fma_fp32|dot_bf16)/threads:2|"
                  "prefill/(fp32|bf16)/gqa_32_8_d128/S:2048/causal:1/threads:2")
DECODE_FILTER = "ceiling/read_stream/threads:2|decode/(fp32|bf16)/|cla_pair"


def run_once(bench, bench_filter, repetitions):
    """Medians of one interleaved run: {benchmark name without the aggregate suffix: counters}."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        done = subprocess.run([bench, f"--benchmark_filter={bench_filter}", f"--benchmark_repetitions={repetitions}",
                               "--benchmark_enable_random_interleaving=true", "--benchmark_report_aggregates_only=true",
                               f"--benchmark_out={out.name}", "--benchmark_out_format=json"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{bench} failed ({done.returncode}):\n{done.stderr}")
        report = json.load(open(out.name))
    return {b["run_name"]: b for b in report["benchmarks"] if b.get("aggregate_name") == "median"}


def counter(medians, prefix, name):
    """The counter `name` of the one benchmark whose run name starts with `prefix`."""
    hits = [b for run_name, b in medians.items() if run_name.startswith(prefix)]
    if len(hits) != 1:
        raise SystemExit(f"expected one benchmark named {prefix}..., found {len(hits)}")
    return hits[0][name]


def summarize(label, values, target, unit):
    met = sum(v >= target for v in values)
    shown = ", ".join(f"{v:.1f}" for v in values)
    print(f"{label:62s} runs: {shown} {unit}; median {statistics.median(values):.1f}; "
          f">= {target:g} in {met} of {len(values)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", required=True, help="path to kvshare_bench_cpu")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--decode", action="store_true", help="the decode targets instead of prefill")
    args = parser.parse_args()

    if not args.decode:
        fp32, bf16 = [], []
        for _ in range(args.runs):
            m = run_once(args.bench, PREFILL_FILTER, 10)
            fma = counter(m, "ceiling/fma_fp32/threads:2", "GFLOPS")
            fp32.append(100.0 * counter(m, "prefill/fp32/", "GFLOPS") / fma)
            bf16.append(counter(m, "prefill/bf16/", "GFLOPS"))
        summarize("prefill fp32, % of ceiling/fma_fp32", fp32, 75, "%")
        summarize("prefill bf16, GFLOP/s", bf16, 250, "GFLOP/s")
        return

    ratios = {}
    for _ in range(args.runs):
        m = run_once(args.bench, DECODE_FILTER, 5)
        stream = counter(m, "ceiling/read_stream/threads:2", "GBps")
        for run_name, b in sorted(m.items()):
            if run_name.startswith("ceiling/"):
                continue
            ratios.setdefault(run_name.replace("/threads:2", "").replace("/real_time", ""), []).append(
                100.0 * b["GBps"] / stream)
    for name, values in ratios.items():
        summarize(name + ", % of read_stream", values, 90, "%")


if __name__ == "__main__":
    main()
