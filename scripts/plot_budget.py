#!/usr/bin/env python3
"""Plot the KV-budget comparison of `cla_decoder --demo --json` as an SVG (no dependencies).

    build/examples/cla_decoder --demo --json > /tmp/demo.json
    python3 scripts/plot_budget.py /tmp/demo.json docs/kv_budget.svg

x: KV bytes per token (log2 axis), y: decode tokens/s reached at the largest batch that fits the
budget; each point is labelled with its variant and batch. The markdown tables of docs/kv_budget.md
are printed on stdout. Not part of CI: docs/kv_budget.svg is committed.
"""
import json
import math
import sys


def esc(text):
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def nice_ceiling(value):
    """The smallest 1, 2 or 5 times a power of ten that is >= value."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * 10 ** exponent >= value:
            return step * 10 ** exponent
    return 10 ** (exponent + 1)


def svg(demo):
    rows = demo["budget"]["rows"]
    budget_mib = demo["budget"]["budget_bytes"] / 2 ** 20
    width, height = 640, 420
    left, right, top, bottom = 80, 30, 50, 60
    plot_w, plot_h = width - left - right, height - top - bottom

    xs = [math.log2(r["kv_bytes_per_token"]) for r in rows]
    x_lo, x_hi = math.floor(min(xs)) - 0.5, math.ceil(max(xs)) + 0.5
    y_hi = nice_ceiling(max(r["decode_tokens_per_s"] for r in rows) * 1.15)

    def px(x):
        return left + (x - x_lo) / (x_hi - x_lo) * plot_w

    def py(y):
        return top + plot_h - y / y_hi * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="14">'
        f'Decode throughput at a fixed {budget_mib:.0f} MiB KV budget '
        f'(context {demo["budget"]["context"]} tokens)</text>',
    ]
    # Grid and axes.
    for i in range(6):
        y = y_hi * i / 5
        out.append(f'<line x1="{left}" y1="{py(y):.1f}" x2="{left + plot_w}" y2="{py(y):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 8}" y="{py(y) + 4:.1f}" text-anchor="end">{y:g}</text>')
    for e in range(math.ceil(x_lo), math.floor(x_hi) + 1):
        out.append(f'<line x1="{px(e):.1f}" y1="{top}" x2="{px(e):.1f}" y2="{top + plot_h}" stroke="#eee"/>')
        label = f"{2 ** e // 1024} Ki" if 2 ** e >= 1024 else f"{2 ** e}"
        out.append(f'<text x="{px(e):.1f}" y="{top + plot_h + 18}" text-anchor="middle">{label}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="black"/>')
    out.append(f'<text x="{left + plot_w / 2}" y="{height - 15}" text-anchor="middle">'
               'KV cache bytes per token (fp32, all layers; log scale)</text>')
    out.append(f'<text x="18" y="{top + plot_h / 2}" text-anchor="middle" '
               f'transform="rotate(-90 18 {top + plot_h / 2})">decode tokens/s</text>')
    # Points, joined in order of bytes per token.
    points = sorted(zip(xs, rows), key=lambda p: p[0])
    path = " ".join(f"{'M' if i == 0 else 'L'}{px(x):.1f},{py(r['decode_tokens_per_s']):.1f}"
                    for i, (x, r) in enumerate(points))
    out.append(f'<path d="{path}" fill="none" stroke="#4477aa" stroke-dasharray="4 3"/>')
    for x, r in points:
        cx, cy = px(x), py(r["decode_tokens_per_s"])
        out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="5" fill="#4477aa"/>')
        # Labels point into the plot: right of points in the left half, left of the others.
        anchor, dx = ("start", 8) if cx < left + plot_w / 2 else ("end", -8)
        out.append(f'<text x="{cx + dx:.1f}" y="{cy - 8:.1f}" text-anchor="{anchor}">{esc(r["variant"])} '
                   f'(batch {r["batch"]}, {r["decode_tokens_per_s"]:.0f} tok/s)</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def tables(demo):
    lines = ["| variant | KV bytes/token | KV allocated | prefill tok/s | decode tok/s | max abs logit diff |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in demo["equal_size"]:
        diff = r["max_logit_diff_incremental_vs_full"]
        lines.append(f"| {r['variant']} | {r['kv_bytes_per_token']} | {r['kv_bytes_allocated']} | "
                     f"{r['prefill_tokens_per_s']:.0f} | {r['decode_tokens_per_s']:.0f} | "
                     f"{'-' if diff is None else f'{diff:.1e}'} |")
    lines += ["", "| variant | KV bytes/token | batch | batch x context | KV allocated | decode tok/s |",
              "|---|---:|---:|---:|---:|---:|"]
    for r in demo["budget"]["rows"]:
        lines.append(f"| {r['variant']} | {r['kv_bytes_per_token']} | {r['batch']} | {r['tokens']} | "
                     f"{r['kv_bytes_allocated']} | {r['decode_tokens_per_s']:.0f} |")
    return "\n".join(lines)


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: plot_budget.py DEMO.json OUT.svg   (DEMO.json: cla_decoder --demo --json)")
    with open(argv[1]) as f:
        demo = json.load(f)
    with open(argv[2], "w") as f:
        f.write(svg(demo))
    print(tables(demo))


if __name__ == "__main__":
    main(sys.argv)
