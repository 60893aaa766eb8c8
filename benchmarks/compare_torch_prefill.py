#!/usr/bin/env python3
"""Side-by-side prefill throughput: kvshare's CUDA prefill vs PyTorch SDPA (cuDNN, FA2 "flash").

Runs in one process on one GPU, so the ratios are from the same run. kvshare's numbers come from
kvshare_bench_cuda (its prefill_ benchmarks, run by this script with --bench) or from a Google Benchmark
JSON file of them (--ours).
FLOPs = 4·B·Hq·S²·D, halved when causal (the issue's definition). bf16, layout [B, S, H, D] viewed as
[B, H, S, D] for SDPA (the same memory layout as kvshare's [tokens, H, D]).

  python3 benchmarks/compare_torch_prefill.py --bench build/benchmarks/kvshare_bench_cuda
  python3 benchmarks/compare_torch_prefill.py --ours ours.json   # from --benchmark_out=ours.json
"""
import argparse
import json
import re
import subprocess
import tempfile

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


def time_ms(fn, warmup=3, reps=20):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    times.sort()
    return times[len(times) // 2]


def torch_tflops(shape, backend):
    b, s, hq, hkv, d, causal = shape
    q = torch.randn(b, s, hq, d, device="cuda", dtype=torch.bfloat16).transpose(1, 2)
    k = torch.randn(b, s, hkv, d, device="cuda", dtype=torch.bfloat16).transpose(1, 2)
    v = torch.randn(b, s, hkv, d, device="cuda", dtype=torch.bfloat16).transpose(1, 2)
    try:
        with sdpa_kernel(backend):
            fn = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
            ms = time_ms(fn)
    except Exception:  # a backend without GQA support: expand K/V (as the anchors' peers must)
        ke, ve = k.repeat_interleave(hq // hkv, 1), v.repeat_interleave(hq // hkv, 1)
        with sdpa_kernel(backend):
            fn = lambda: F.scaled_dot_product_attention(q, ke, ve, is_causal=causal)
            ms = time_ms(fn)
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ours", help="Google Benchmark JSON of the prefill_ benchmarks")
    parser.add_argument("--bench", help="kvshare_bench_cuda binary: run its prefill_ benchmarks first")
    args = parser.parse_args()
    if args.bench:
        out = tempfile.NamedTemporaryFile(suffix=".json", delete=False).name
        subprocess.run([args.bench, "--benchmark_filter=prefill_", f"--benchmark_out={out}",
                        "--benchmark_out_format=json"], check=True)
        args.ours = out
    ours = ours_tflops(args.ours)
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    header = f"{'shape':38s} {'kvshare':>8s} {'cuDNN':>8s} {'FA2':>8s} {'vs cuDNN':>9s} {'vs FA2':>7s}"
    print(header)
    print("-" * len(header))
    for shape in SHAPES:
        b, s, hq, hkv, d, causal = shape
        peers = {name: torch_tflops(shape, be) for name, be in BACKENDS.items()}
        mine = ours.get(shape, float("nan"))
        name = f"B{b} S{s} Hq{hq} Hkv{hkv} D{d} {'causal' if causal else 'non-causal'}"
        print(f"{name:38s} {mine:8.1f} {peers['cuDNN']:8.1f} {peers['FA2']:8.1f} "
              f"{mine / peers['cuDNN']:9.2f} {mine / peers['FA2']:7.2f}")
    print("(TFLOP/s, bf16, median of events-timed calls)")


if __name__ == "__main__":
    main()
