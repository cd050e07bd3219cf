"""Render pytest-benchmark's --benchmark-json output as Markdown: one table per group and device.

    pytest benchmarks --benchmark-json=bench.json
    python -m backprop_manual.bench_report bench.json

Per variant: median and IQR in µs per sample (a call's time / the samples it processes), the ratio to the manual
variant of its table (how many times slower than ours) and the ratio to the plain-Python floor.
"""

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

GROUP_ORDER = ("step", "epoch", "all gradients", "floor")

# variant labels, shared with benchmarks/test_bench_loop.py so that the targets below find them
MANUAL = "manual"
AUTOGRAD = "autograd: requires_grad + loss.backward()"
NN_SGD = "torch.nn + MSELoss + optim.SGD"
LESSON = "the lesson's loop as written"
GRAPH = "manual, CUDA graph replay"
VECTORIZED = "manual, vectorized"
FLOOR = "Python floats + math.exp"

# (what, slower: (group, variant), faster: (group, variant), at least): slower / faster per sample, per device
TARGETS = [
    ("manual loop vs plain autograd", ("epoch", AUTOGRAD), ("epoch", MANUAL), 2.5),
    ("manual loop vs torch.nn + SGD", ("epoch", NN_SGD), ("epoch", MANUAL), 4.0),
    ("manual loop vs the lesson's loop as written", ("epoch", LESSON), ("epoch", MANUAL), 1.4),
    ("all 569 gradients vectorized vs the manual loop", ("epoch", MANUAL), ("all gradients", VECTORIZED), 500.0),
    ("CUDA graph replay vs eager manual step", ("step", MANUAL), ("step", GRAPH), 3.0),
    ("manual loop's distance to the floor", ("epoch", MANUAL), ("floor", FLOOR), None),
]


def per_sample(bench: dict) -> tuple[float, float]:
    """(median, IQR) in µs per sample"""
    n = bench["extra_info"]["samples"]
    return bench["stats"]["median"] / n * 1e6, bench["stats"]["iqr"] / n * 1e6


def load(path: str | Path) -> dict:
    try:
        with open(path) as f:
            report = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise SystemExit(f"error: cannot read pytest-benchmark JSON from {path}: {e}") from None
    labelled = [b for b in report.get("benchmarks", []) if {"group", "device", "samples"} <= b.get("extra_info", {}).keys()]
    if not labelled:
        raise SystemExit(f"error: {path} has no benchmarks from benchmarks/ (run with --benchmark-json, not --benchmark-disable)")
    return {**report, "benchmarks": labelled}


def render(report: dict) -> str:
    benches = report["benchmarks"]
    floor = next((per_sample(b)[0] for b in benches if b["extra_info"].get("role") == "floor"), None)
    tables = defaultdict(list)
    for b in benches:
        tables[(b["extra_info"]["group"], b["extra_info"]["device"])].append(b)
    machine = report.get("machine_info", {})
    out = [
        f"torch {report.get('torch', '?')}, {report.get('gpu', 'no GPU')}, Python {machine.get('python_version', '?')}, "
        f"{machine.get('cpu', {}).get('brand_raw', machine.get('processor', '?'))}; {report.get('datetime', '')}",
    ]
    order = {g: i for i, g in enumerate(GROUP_ORDER)}  # a group not in GROUP_ORDER comes after all of them
    for group, device in sorted(tables, key=lambda k: (order.get(k[0], len(order)), k[1])):
        rows = sorted(tables[(group, device)], key=lambda b: per_sample(b)[0])
        manual = next((per_sample(b)[0] for b in rows if b["extra_info"].get("role") == "manual"), None)
        out += [
            "",
            f"### {group} [{device}]",
            "",
            "| variant | median µs/sample | IQR µs/sample | × manual | × floor | calls |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for b in rows:
            median, iqr = per_sample(b)
            vs_manual = f"{median / manual:.2f}" if manual else "–"
            vs_floor = f"{median / floor:.1f}" if floor else "–"
            out.append(f"| {b['extra_info']['variant']} | {median:.4g} | {iqr:.2g} | {vs_manual} | {vs_floor} | {b['stats']['rounds']} |")
    return "\n".join(out + ["", targets(benches)])


def targets(benches: list[dict]) -> str:
    """The issue's targets as measured ratios, per device; the floor is device-free (measured under cpu)."""
    median = {(b["extra_info"]["group"], b["extra_info"]["variant"], b["extra_info"]["device"]): per_sample(b)[0] for b in benches}
    out = ["### targets", "", "| device | ratio | measured | target | |", "|---|---|---:|---:|---|"]
    for device in sorted({b["extra_info"]["device"] for b in benches}):
        for what, slow, fast, at_least in TARGETS:
            num, den = median.get((*slow, device)), median.get((*fast, device))
            if den is None and fast[0] == "floor":  # Python floats run on the CPU whatever the device
                den = median.get((*fast, "cpu"))
            if num is None or den is None:
                continue
            ratio = num / den
            verdict = "" if at_least is None else ("met" if ratio >= at_least else "MISSED")
            out.append(f"| {device} | {what} | {ratio:.1f}× | {'' if at_least is None else f'≥ {at_least:g}×'} | {verdict} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m backprop_manual.bench_report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("json", help="the file written by pytest benchmarks --benchmark-json=FILE")
    args = p.parse_args(argv)
    print(render(load(args.json)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
