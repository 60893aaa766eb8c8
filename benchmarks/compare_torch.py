#!/usr/bin/env python3
"""kvshare CUDA decode vs PyTorch SDPA (flash and cuDNN backends), same GPU, same run.

Runs our benchmark binary (build/benchmarks/kvshare_bench_cuda) with --benchmark_format=json, then
times torch.nn.functional.scaled_dot_product_attention on the same decode shapes (one query token per
sequence, KV stored [B, L, H_kv, D] as in our cache, viewed as [B, H_kv, L, D]; enable_gqa=True) and
prints one table: GB/s (K+V bytes read / median time), ratio to the device-to-device copy measured
by our binary in the same run, and ours / torch.

  python3 benchmarks/compare_torch.py [--bench build/benchmarks/kvshare_bench_cuda] [--markdown out.md]
  python3 benchmarks/compare_torch.py prefill [args of compare_torch_prefill.py]   # the prefill table

Paged shapes have no torch counterpart (SDPA takes dense K/V): their torch columns read "n/a".
"""
import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys


def run_ours(binary, extra_filter):
    filt = "ceiling/copy|decode/" if not extra_filter else extra_filter
    cmd = [binary, f"--benchmark_filter={filt}", "--benchmark_format=json"]
    print("running:", " ".join(cmd), file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    if not proc.stdout.strip():   # Google Benchmark prints nothing when the filter matches nothing
        sys.exit(f"compare_torch: no benchmark of {binary} matches the filter {filt!r} "
                 "(names end in /min_time:..., so a trailing $ never matches)")
    data = json.loads(proc.stdout)
    results = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        name = b["run_name"].split("/min_time:")[0]   # drop Google Benchmark's option suffixes
        results[name] = {"GBps": b["GBps"], "us": b["real_time"]}
    return results


SHAPE = re.compile(r"decode/(?P<dtype>\w+)/B(?P<B>\d+)/L(?P<L>\d+)/Hq(?P<Hq>\d+)/Hkv(?P<Hkv>\d+)/D(?P<D>\d+)/(?P<layout>\w+)")


def time_torch(shape, backend_name):
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    import torch.nn.functional as F

    backend = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION}[backend_name]
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[shape["dtype"]]
    B, L, Hq, Hkv, D = (int(shape[k]) for k in ("B", "L", "Hq", "Hkv", "D"))
    kv_bytes = 2 * B * L * Hkv * D * 2
    l2 = torch.cuda.get_device_properties(0).L2_cache_size
    copies = max(1, min(8, math.ceil(4 * l2 / kv_bytes)))
    q = torch.randn(B, 1, Hq, D, device="cuda", dtype=dtype).transpose(1, 2)
    kvs = []
    for _ in range(copies):
        k = torch.randn(B, L, Hkv, D, device="cuda", dtype=dtype).transpose(1, 2)
        v = torch.randn(B, L, Hkv, D, device="cuda", dtype=dtype).transpose(1, 2)
        kvs.append((k, v))
    gqa = Hq != Hkv
    with sdpa_kernel([backend]):
        def call(i):
            k, v = kvs[i % copies]
            return F.scaled_dot_product_attention(q, k, v, is_causal=False, enable_gqa=gqa)
        for i in range(3):
            call(i)
        torch.cuda.synchronize()
        times = []
        for i in range(60):
            start = torch.cuda.Event(enable_timing=True)
            stop = torch.cuda.Event(enable_timing=True)
            start.record()
            call(i)
            stop.record()
            stop.synchronize()
            times.append(start.elapsed_time(stop) * 1e-3)
    del kvs
    torch.cuda.empty_cache()
    return kv_bytes / statistics.median(times) / 1e9


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "prefill":   # the prefill side-by-side lives in its own script
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "compare_torch_prefill.py")
        os.execv(sys.executable, [sys.executable, script] + sys.argv[2:])
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default="build/benchmarks/kvshare_bench_cuda")
    ap.add_argument("--filter", default="")
    ap.add_argument("--markdown", default="")
    ap.add_argument("--json", default="")
    args = ap.parse_args()

    ours = run_ours(args.bench, args.filter)
    copy = next((v["GBps"] for k, v in ours.items() if k.startswith("ceiling/copy")), float("nan"))
    rows = []
    for name, r in ours.items():
        m = SHAPE.match(name)
        if not m:
            continue
        shape = m.groupdict()
        row = {"shape": name.replace("decode/", ""), "ours": r["GBps"], "ours_vs_copy": r["GBps"] / copy}
        for backend in ("flash", "cudnn"):
            if shape["layout"] != "contiguous":
                row[backend] = float("nan")
                continue
            try:
                row[backend] = time_torch(shape, backend)
            except Exception as e:  # a backend that refuses the shape
                print(f"torch {backend} failed on {name}: {str(e).splitlines()[0][:200]}", file=sys.stderr)
                row[backend] = float("nan")
        rows.append(row)

    def f(x, spec):
        return "n/a" if x != x else format(x, spec)

    lines = [f"copy (D2D, read + write): {copy:.0f} GB/s", "",
             "| shape | ours GB/s | ours / copy | torch flash GB/s | torch cuDNN GB/s | ours / flash | ours / cuDNN |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['shape']} | {r['ours']:.0f} | {r['ours_vs_copy']:.2f} | {f(r['flash'], '.0f')} | "
                     f"{f(r['cudnn'], '.0f')} | {f(r['ours'] / r['flash'], '.2f')} | {f(r['ours'] / r['cudnn'], '.2f')} |")
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(text + "\n")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"copy_GBps": copy, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
