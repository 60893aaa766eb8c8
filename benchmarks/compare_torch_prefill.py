#!/usr/bin/env python3
"""Side-by-side prefill throughput: kvshare's CUDA prefill vs PyTorch SDPA (cuDNN, FA2 "flash").

Runs on one GPU, so the ratios are from the same run. kvshare's numbers come from kvshare_bench_cuda
(its prefill_ benchmarks, run by this script with --bench, one shape at a time next to the peers on
that shape; who goes first rotates from round to round) or from a Google Benchmark JSON file of them
(--ours, measured earlier under whatever protocol that run had).
FLOPs = 4·B·Hq·S²·D, halved when causal (the issue's definition). bf16, layout [B, S, H, D] viewed as
[B, H, S, D] for SDPA (the same memory layout as kvshare's [tokens, H, D]).

Timing protocol, the same for every column: calls timed one by one with CUDA events, after a warm-up
of at least --seconds of calls, over at least --seconds of calls; the figure is FLOPs / mean time of
the timed calls (kvshare: Google Benchmark with manual time and min_time = --seconds). It matters: the
H200 runs a short burst of calls at a higher clock than sustained work. With 20 calls (this script's
old protocol for the peers) cuDNN measured 609–648 TFLOP/s non-causal; over ~1.4 s of calls, 580
(docs/cuda_prefill_log.md, sixth session). With --rounds N the table is measured N times and each
cell is the median.

  python3 benchmarks/compare_torch_prefill.py --bench build/benchmarks/kvshare_bench_cuda
  python3 benchmarks/compare_torch_prefill.py --ours ours.json   # from --benchmark_out=ours.json
"""
import argparse
import json
import os
import statistics
import re
import subprocess
import tempfile
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

SHAPES = [  # (B, S, Hq, Hkv, D, causal)
    (4, 4096, 32, 8, 128, True),
    (4, 4096, 32, 8, 128, False),
    (8, 2048, 32, 8, 64, True),
    (1, 16384, 32, 8, 128, True),
]
BACKENDS = {"cuDNN": SDPBackend.CUDNN_ATTENTION, "FA2": SDPBackend.FLASH_ATTENTION}


def flops(b, s, hq, d, causal):
    return 4.0 * b * hq * s * s * d * (0.5 if causal else 1.0)


def time_ms(fn, seconds):
    """Mean time of fn's calls (each timed by events) over >= seconds, after >= seconds of warm-up."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        fn()
        torch.cuda.synchronize()
    total, calls = 0.0, 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or calls < 3:
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        total += start.elapsed_time(stop)
        calls += 1
    return total / calls


def torch_tflops(shape, backend, seconds):
    b, s, hq, hkv, d, causal = shape
    q = torch.randn(b, s, hq, d, device="cuda", dtype=torch.bfloat16).transpose(1, 2)
    k = torch.randn(b, s, hkv, d, device="cuda", dtype=torch.bfloat16).transpose(1, 2)
    v = torch.randn(b, s, hkv, d, device="cuda", dtype=torch.bfloat16).transpose(1, 2)
    try:
        with sdpa_kernel(backend):
            fn = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
            ms = time_ms(fn, seconds)
    except Exception:  # a backend without GQA support: expand K/V (as the anchors' peers must)
        ke, ve = k.repeat_interleave(hq // hkv, 1), v.repeat_interleave(hq // hkv, 1)
        with sdpa_kernel(backend):
            fn = lambda: F.scaled_dot_product_attention(q, ke, ve, is_causal=causal)
            ms = time_ms(fn, seconds)
    return flops(b, s, hq, d, causal) / (ms * 1e-3) / 1e12


def ours_tflops(path):
    """{(B, S, Hq, Hkv, D, causal): TFLOP/s} from the benchmark JSON (name .../HqX_HkvY_DZ/B/S/causal/portable)."""
    result = {}
    if not path:
        return result
    with open(path) as f:
        data = json.load(f)
    for bm in data.get("benchmarks", []):
        m = re.search(r"Hq(\d+)_Hkv(\d+)_D(\d+)/(\d+)/(\d+)/(\d+)/(\d+)", bm["name"])
        if not m or "GFLOPS" not in bm or m.group(7) != "0":   # the default (fastest) kernel only
            continue
        hq, hkv, d, b, s, causal, _ = map(int, m.groups())
        result[(b, s, hq, hkv, d, bool(causal))] = bm["GFLOPS"] / 1e3
    return result


def bench_tflops(bench, shape, seconds):
    """kvshare on one shape: the benchmark binary's variant-0 (default kernel) run of it."""
    b, s, hq, hkv, d, causal = shape
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([bench, f"--benchmark_filter=prefill_bf16/Hq{hq}_Hkv{hkv}_D{d}/{b}/{s}/{int(causal)}/0/",
                        f"--benchmark_out={out.name}", "--benchmark_out_format=json"], check=True,
                       stdout=subprocess.DEVNULL, env=dict(os.environ, KVSHARE_BENCH_MIN_TIME=str(seconds)))
        return ours_tflops(out.name).get(shape, float("nan"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ours", help="Google Benchmark JSON of the prefill_ benchmarks")
    parser.add_argument("--bench", help="kvshare_bench_cuda binary: run its prefill_ benchmarks, shape by shape")
    parser.add_argument("--seconds", type=float, default=0.3, help="warm-up and timed span per measurement")
    parser.add_argument("--rounds", type=int, default=1, help="measure the table this many times; medians")
    args = parser.parse_args()
    if bool(args.ours) == bool(args.bench):
        parser.error("give one of --bench (measured here, same protocol) or --ours (a JSON measured before)")
    ours = ours_tflops(args.ours) if args.ours else {}
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    cells = {shape: {"kvshare": [], "cuDNN": [], "FA2": []} for shape in SHAPES}
    for r in range(args.rounds):
        for shape in SHAPES:
            # Who runs first rotates from round to round (a cold start favours the first in a burst).
            order = ["kvshare", *BACKENDS]
            for name in order[r % len(order):] + order[:r % len(order)]:
                if name != "kvshare":
                    cells[shape][name].append(torch_tflops(shape, BACKENDS[name], args.seconds))
                elif args.bench:
                    cells[shape][name].append(bench_tflops(args.bench, shape, args.seconds))
                elif r == 0:
                    cells[shape][name].append(ours.get(shape, float("nan")))
    header = f"{'shape':38s} {'kvshare':>8s} {'cuDNN':>8s} {'FA2':>8s} {'vs cuDNN':>9s} {'vs FA2':>7s}"
    print(header)
    print("-" * len(header))
    for shape in SHAPES:
        b, s, hq, hkv, d, causal = shape
        med = {k: statistics.median(v) for k, v in cells[shape].items()}
        name = f"B{b} S{s} Hq{hq} Hkv{hkv} D{d} {'causal' if causal else 'non-causal'}"
        print(f"{name:38s} {med['kvshare']:8.1f} {med['cuDNN']:8.1f} {med['FA2']:8.1f} "
              f"{med['kvshare'] / med['cuDNN']:9.2f} {med['kvshare'] / med['FA2']:7.2f}")
        if args.rounds > 1:
            for k, v in cells[shape].items():
                print(f"    {k} per round: " + ", ".join(f"{x:.1f}" for x in v))
    print(f"(TFLOP/s, bf16; each cell FLOPs / mean call time over >= {args.seconds} s after >= {args.seconds} s "
          f"of warm-up{f'; median of {args.rounds} rounds' if args.rounds > 1 else ''})")
    if args.ours:
        print(f"(kvshare from {args.ours}: measured earlier, with whatever warm-up and min_time that run had)")


if __name__ == "__main__":
    main()
