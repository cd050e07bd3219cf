"""Render pytest-benchmark's --benchmark-json output as Markdown: one table per group and device.

    pytest benchmarks --benchmark-json=bench.json
    python -m benchmarks.bench_report bench.json
    python -m benchmarks.bench_report bench.json --output bench.md    # and the sweep's figure, bench-sweep.png
    (and the verifier's cost, benchmarks/test_bench_verifier.py: its tables and bench-verifier.png)

Per variant: median and IQR in µs per sample (a call's time / the samples it processes), the ratio to the manual
variant of its table (how many times slower than ours) and the ratios to the two floors: the same loop in plain Python
floats (what the interpreter costs) and compiled to machine code by numba (what the hardware costs; "–" where the
extra numba is not installed).
The hidden-layer sweep (benchmarks/test_bench_sweep.py) gets, per device, its medians per step and each variant's
time / autograd's at every (N, H), then the crossovers and its targets, and a log-log figure of time against H:
written to --figure, or beside --output, and linked from the Markdown.
The verifier's own cost (benchmarks/test_bench_verifier.py) gets its medians and verify_chain / compared work per
case, the targets' ratios against their bounds, and a log-log figure, to --verifier-figure or beside --output.
"""

import argparse
import json
import math
import operator
import os
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
FORWARD = "one vectorized forward pass (passes.forward)"
FLOOR = "Python floats + math.exp"
MACHINE_FLOOR = "numba @njit, float64"
# roles, in extra_info["role"]: the rows a table's columns divide by (manual, the two floors), and the forward pass
ROLE_MANUAL, ROLE_FORWARD, ROLE_FLOOR, ROLE_MACHINE_FLOOR = "manual", "forward", "floor", "machine floor"

# the hidden-layer sweep (benchmarks/test_bench_sweep.py): extra_info["sweep"], the keys it needs, its variants' labels
SWEEP = "hidden"
SWEEP_KEYS = {"sweep", "device", "variant", "N", "H"}
SWEEP_VARIANTS = {
    "manual": "manual: hidden.step",
    "autograd": "autograd: loss.backward() + optim.SGD",
    "func": "torch.func.grad",
}
DEVICES = ("cpu", "cuda")  # the sweep's tables and crossovers name both; a device without figures is "not measured"
NOT_MEASURED = "not measured"
# (what, which (N, H) cells, the most manual / autograd may be in any of them)
SWEEP_TARGETS = [
    ("manual vs autograd, overhead-bound: N = 1, H ≤ 16", lambda N, H: N == 1 and H <= 16, 1 / 3),
    ("manual vs autograd, matmul-bound: N ≥ 569, H ≥ 1024", lambda N, H: N >= 569 and H >= 1024, 1.1),
]

# the verifier's own cost (benchmarks/test_bench_verifier.py): extra_info["verifier"], the keys it needs, its variants,
# and issue 17's targets: (target, the most verify_chain / compared work may be)
VERIFIER = "verifier"
VERIFIER_KEYS = {"verifier", "case", "variant", "names", "numel"}
VERIFY, COMPARED = "verify_chain", "compared work"
VERIFIER_VARIANTS = (VERIFY, COMPARED)
LAYERNORM = "LayerNorm -> Linear -> GELU, [8, 128, 256]"
NINJA = "batch-norm MLP (backprop ninja), batch 32"
VERIFIER_TARGETS = {LAYERNORM: 2.0, NINJA: 3.0}

# (what, numerator: (group, variant), denominator: (group, variant), bound): numerator / denominator per sample, per
# device; bound is ("≥", at least) or ("≤", at most), or None for a distance stated without a target
BOUNDS = {"≥": operator.ge, "≤": operator.le}
TARGETS = [
    ("manual loop vs plain autograd", ("epoch", AUTOGRAD), ("epoch", MANUAL), ("≥", 2.5)),
    ("manual loop vs torch.nn + SGD", ("epoch", NN_SGD), ("epoch", MANUAL), ("≥", 4.0)),
    ("manual loop vs the lesson's loop as written", ("epoch", LESSON), ("epoch", MANUAL), ("≥", 1.4)),
    (
        "all-sample vectorized gradients vs one vectorized forward pass",
        ("all gradients", VECTORIZED),
        ("all gradients", FORWARD),
        ("≤", 2.0),
    ),
    ("CUDA graph replay vs eager manual step", ("step", MANUAL), ("step", GRAPH), ("≥", 3.0)),
    ("manual loop's distance to the Python floor", ("epoch", MANUAL), ("floor", FLOOR), None),
    ("manual loop's distance to the machine floor", ("epoch", MANUAL), ("floor", MACHINE_FLOOR), None),
    ("Python floor's distance to the machine floor", ("floor", FLOOR), ("floor", MACHINE_FLOOR), None),
]


def per_sample(bench: dict) -> tuple[float, float]:
    """(median, IQR) in µs per sample"""
    n = bench["extra_info"]["samples"]
    return bench["stats"]["median"] / n * 1e6, bench["stats"]["iqr"] / n * 1e6


def is_loop(bench: dict) -> bool:
    return {"group", "device", "samples"} <= bench.get("extra_info", {}).keys()


def is_sweep(bench: dict) -> bool:
    info = bench.get("extra_info", {})
    return info.get("sweep") == SWEEP and SWEEP_KEYS <= info.keys()


def is_verifier(bench: dict) -> bool:
    info = bench.get("extra_info", {})
    return info.get("verifier") == VERIFIER and VERIFIER_KEYS <= info.keys()


def load(path: str | Path) -> dict:
    try:
        with open(path) as f:
            report = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise SystemExit(f"error: cannot read pytest-benchmark JSON from {path}: {e}") from None
    labelled = [b for b in report.get("benchmarks", []) if is_loop(b) or is_sweep(b) or is_verifier(b)]
    if not labelled:
        raise SystemExit(
            f"error: {path} has no benchmarks from benchmarks/ (run with --benchmark-json, not --benchmark-disable)"
        )
    return {**report, "benchmarks": labelled}


def render(report: dict, *, figure: str | None = None, verifier_figure: str | None = None) -> str:
    """The Markdown: the machine, the loop's tables and targets, then the sweep's (with a link to its figure), then
    the verifier's cost (with a link to its own)."""
    machine = report.get("machine_info", {})
    cpu = machine.get("cpu", {}).get("brand_raw", machine.get("processor", "?"))
    numba = f"numba {report['numba']}, " if "numba" in report else ""  # a JSON from before the machine floor: none
    out = [
        f"torch {report.get('torch', '?')}, {numba}{report.get('gpu', 'no GPU')}, "
        f"Python {machine.get('python_version', '?')}, {cpu}; {report.get('datetime', '')}",
    ]
    loop = [b for b in report["benchmarks"] if is_loop(b)]
    sweep = [b for b in report["benchmarks"] if is_sweep(b)]
    verifier = [b for b in report["benchmarks"] if is_verifier(b)]
    if loop or not (sweep or verifier):
        out += render_loop(loop)
    if sweep:
        out += render_sweep(sweep_medians(sweep), figure=figure, threads=report.get("torch_threads"))
    if verifier:
        out += render_verifier(verifier_medians(verifier), figure=verifier_figure)
    return "\n".join(out)


def times(ratio: float) -> str:
    """a ratio in three digits, whole from 100 on: 0.0312, 4, 1.37, 43.4, 1,402 (".1f" would print 1.366 as 1.4,
    beside a target of 1.4 that it misses)"""
    return f"{ratio:,.0f}" if ratio >= 100 else f"{ratio:.3g}"


def role_median(benches: list[dict], role: str) -> float | None:
    """µs per sample of the first benchmark with this role; None where none has it"""
    return next((per_sample(b)[0] for b in benches if b["extra_info"].get("role") == role), None)


def render_loop(benches: list[dict]) -> list[str]:
    # the floors run on the CPU whatever the device: every table, cuda's included, is set against them
    floor, machine_floor = role_median(benches, ROLE_FLOOR), role_median(benches, ROLE_MACHINE_FLOOR)
    tables = defaultdict(list)
    for b in benches:
        tables[(b["extra_info"]["group"], b["extra_info"]["device"])].append(b)
    out = []
    order = {g: i for i, g in enumerate(GROUP_ORDER)}  # a group not in GROUP_ORDER comes after all of them
    for group, device in sorted(tables, key=lambda k: (order.get(k[0], len(order)), k[1])):
        rows = sorted(tables[(group, device)], key=lambda b: per_sample(b)[0])
        manual = role_median(rows, ROLE_MANUAL)
        out += [
            "",
            f"### {group} [{device}]",
            "",
            "| variant | median µs/sample | IQR µs/sample | × manual | × Python floor | × machine floor | calls |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for b in rows:
            median, iqr = per_sample(b)
            vs_manual = f"{median / manual:.2f}" if manual else "–"
            vs_floor = times(median / floor) if floor else "–"
            vs_machine = times(median / machine_floor) if machine_floor else "–"
            variant, calls = b["extra_info"]["variant"], b["stats"]["rounds"]
            spread = f"{iqr:,.0f}" if iqr >= 100 else f"{iqr:.2g}"  # 130, not 1.3e+02
            out.append(f"| {variant} | {median:.4g} | {spread} | {vs_manual} | {vs_floor} | {vs_machine} | {calls} |")
    return out + ["", targets(benches)]


def targets(benches: list[dict]) -> str:
    """The issue's targets as measured ratios, per device; the floors are device-free (measured under cpu)."""
    median = {tuple(b["extra_info"][k] for k in ("group", "variant", "device")): per_sample(b)[0] for b in benches}
    out = ["### targets", "", "| device | ratio | measured | target | |", "|---|---|---:|---:|---|"]

    def at(device, group, variant):  # Python floats and numba run on the CPU whatever the device
        return median.get((group, variant, "cpu" if group == "floor" else device))

    for device in sorted({b["extra_info"]["device"] for b in benches}):
        for what, top, bottom, bound in TARGETS:
            num, den = at(device, *top), at(device, *bottom)
            if num is None or den is None or (top[0] == "floor" and device != "cpu"):
                continue  # a ratio of two floors is the CPU's: stated once, under cpu
            ratio, target, verdict = num / den, "", ""
            if bound is not None:
                sign, limit = bound
                target, verdict = f"{sign} {limit:g}×", "met" if BOUNDS[sign](ratio, limit) else "MISSED"
            out.append(f"| {device} | {what} | {times(ratio)}× | {target} | {verdict} |")
    return "\n".join(out)


# The hidden-layer sweep: medians per (device, variant, N, H)

Medians = dict[tuple[str, str, int, int], float]


def sweep_medians(benches: list[dict]) -> Medians:
    """{(device, variant, N, H): median seconds per step} of the sweep's benchmarks"""
    return {tuple(b["extra_info"][k] for k in ("device", "variant", "N", "H")): b["stats"]["median"] for b in benches}


def axes_of(medians: Medians) -> tuple[list[str], list[str], list[int], list[int]]:
    """(devices, variants, Ns, Hs) measured: devices and variants in the report's order, the unknown ones after"""

    def ordered(known, found):
        return [k for k in known if k in found] + sorted(found - set(known))

    devices, variants, Ns, Hs = (set(k[i] for k in medians) for i in range(4))
    return ordered(DEVICES, devices), ordered(SWEEP_VARIANTS, variants), sorted(Ns), sorted(Hs)


def label(variant: str) -> str:
    return SWEEP_VARIANTS.get(variant, variant)


def vs_autograd(medians: Medians, device: str, variant: str, N: int, H: int) -> float | None:
    """variant's median / autograd's at (device, N, H): below 1 the variant is faster; None where either is missing"""
    mine, theirs = medians.get((device, variant, N, H)), medians.get((device, "autograd", N, H))
    return None if mine is None or theirs is None else mine / theirs


def manual_crossover(medians: Medians, device: str, N: int) -> tuple[int, float] | None:
    """(the smallest H where manual / autograd ≥ 1, that ratio); None where manual is faster at every H measured"""
    for H in axes_of(medians)[3]:
        r = vs_autograd(medians, device, "manual", N, H)
        if r is not None and r >= 1:
            return H, r
    return None


def gpu_crossover(medians: Medians, variant: str, N: int) -> tuple[int, float] | None:
    """(the smallest H where cuda's median < cpu's, cpu / cuda there); None where the CPU is as fast at every H"""
    for H in axes_of(medians)[3]:
        cpu, cuda = medians.get(("cpu", variant, N, H)), medians.get(("cuda", variant, N, H))
        if cpu is not None and cuda is not None and cuda < cpu:
            return H, cpu / cuda
    return None


def microseconds(seconds: float) -> str:
    us = seconds * 1e6
    return f"{us:,.0f}" if us >= 100 else f"{us:.3g}"


def render_sweep(medians: Medians, *, figure: str | None = None, threads: int | None = None) -> list[str]:
    devices, variants, Ns, Hs = axes_of(medians)
    header = ["| N | variant | " + " | ".join(f"H = {H}" for H in Hs) + " |", "|---:|---|" + "---:|" * len(Hs)]

    def row(N, v, cells, fmt):
        return f"| {N} | {label(v)} | " + " | ".join("–" if c is None else fmt(c) for c in cells) + " |"

    out = ["", "## sweep: one training step of the hidden layer, d → H → 1", ""]
    if threads is not None:
        out += [f"torch's CPU ops on {threads} thread{'s' if threads > 1 else ''} (torch.get_num_threads())", ""]
    if figure:
        out += [f"![median time per step against H, log-log, per variant and N]({figure})", ""]
    for device in devices:
        out += [f"### sweep [{device}]: median µs per step", "", *header]
        out += [row(N, v, (medians.get((device, v, N, H)) for H in Hs), microseconds) for N in Ns for v in variants]
        out += ["", f"### sweep [{device}]: time / autograd's (below 1: faster than autograd)", "", *header]
        out += [
            row(N, v, (vs_autograd(medians, device, v, N, H) for H in Hs), "{:.2f}".format)
            for N in Ns
            for v in variants
            if v != "autograd"
        ]
        out.append("")
    return out + crossovers(medians) + ["", *sweep_targets(medians)]


def crossovers(medians: Medians) -> list[str]:
    """Per N: where manual stops beating autograd, per device; where the GPU starts beating the CPU, per variant."""
    devices, variants, Ns, Hs = axes_of(medians)
    out = [
        "### sweep: crossovers",
        "",
        "manual ≥ autograd: the smallest H where manual's step takes at least autograd's (manual / autograd there). "
        "GPU < CPU: the smallest H where the variant's CUDA step is faster than its CPU step (CPU / CUDA there).",
        "",
        "| N | "
        + " | ".join(f"manual ≥ autograd [{d}]" for d in DEVICES)
        + " | "
        + " | ".join(f"GPU < CPU [{v}]" for v in variants)
        + " |",
        "|---:|" + "---|" * (len(DEVICES) + len(variants)),
    ]
    for N in Ns:
        cells = []
        for device in DEVICES:
            if all(vs_autograd(medians, device, "manual", N, H) is None for H in Hs):
                cells.append(NOT_MEASURED)
            else:
                found = manual_crossover(medians, device, N)
                cells.append(f"{found[0]} ({found[1]:.2f}×)" if found else f"manual faster at every H ≤ {Hs[-1]}")
        for v in variants:
            if not any(("cpu", v, N, H) in medians and ("cuda", v, N, H) in medians for H in Hs):
                cells.append(NOT_MEASURED)
            else:
                found = gpu_crossover(medians, v, N)
                cells.append(f"{found[0]} ({found[1]:.1f}×)" if found else f"CPU faster at every H ≤ {Hs[-1]}")
        out.append(f"| {N} | " + " | ".join(cells) + " |")
    return out


def sweep_targets(medians: Medians) -> list[str]:
    """The issue's targets for the sweep, per device: the worst manual / autograd over the target's cells."""
    devices, _, Ns, Hs = axes_of(medians)
    out = [
        "### sweep: targets",
        "",
        "| device | target | cells | worst manual / autograd | target | |",
        "|---|---|---:|---:|---:|---|",
    ]
    for device in devices:
        for what, where, most in SWEEP_TARGETS:
            cells = [vs_autograd(medians, device, "manual", N, H) for N in Ns for H in Hs if where(N, H)]
            ratios = [r for r in cells if r is not None]
            if not ratios:
                out.append(f"| {device} | {what} | 0 | – | {speed(most)} | {NOT_MEASURED} |")
                continue
            worst = max(ratios)
            verdict = "met" if worst <= most else "MISSED"
            out.append(f"| {device} | {what} | {len(ratios)} | {speed(worst)} | {speed(most)} | {verdict} |")
    return out


def speed(ratio: float) -> str:
    """manual / autograd in words: 0.25 is "0.25 (4.0× faster)", 1.2 is "1.20" """
    return f"{ratio:.2f} ({1 / ratio:.1f}× faster)" if ratio < 1 else f"{ratio:.2f}"


# The sweep's figure. What it draws is sweep_lines (tested line by line); how it looks is in these constants,
# checked by looking at the PNG.

SWEEP_COLORS = {"manual": "tab:blue", "autograd": "tab:orange", "func": "tab:green"}  # colour = variant
N_STYLES = [  # line style and marker = N, smallest N first
    {"marker": "o", "linestyle": ":"},
    {"marker": "s", "linestyle": "-."},
    {"marker": "^", "linestyle": "--"},
    {"marker": "D", "linestyle": "-"},
]
PANEL_SIZE = (5.2, 4.4)  # inches, one column per device: its times on top
RATIO_HEIGHT = 2.4  # inches, the ratios to autograd beneath the times
RATIO_TICKS = [0.125, 0.25, 0.5, 1, 2, 4, 8]
AUTOGRAD_LINE = {"color": "tab:orange", "linewidth": 1.5, "zorder": 0}  # 1×: autograd itself, in its colour
LEGEND_WIDTH = 2.4  # inches, the legend right of the panels
SWEEP_DPI = 100
LINE = {"linewidth": 1.3, "markersize": 4.5}
LEGEND_FONT = 8


def sweep_lines(medians: Medians, *, over_autograd: bool = False) -> dict[str, list[tuple[str, int, list, list]]]:
    """{device: [(variant, N, Hs, values), ...]}: one panel per device, one line per variant and N. The values are
    median seconds per step or, over_autograd, the variant's time / autograd's (autograd's own line left out).
    A cell not measured is left out of its line, never drawn as 0."""
    devices, variants, Ns, Hs = axes_of(medians)
    panels = {}
    for device in devices:
        panels[device] = []
        for v in variants:
            if over_autograd and v == "autograd":
                continue
            for N in Ns:
                cells = [
                    (H, vs_autograd(medians, device, v, N, H) if over_autograd else medians.get((device, v, N, H)))
                    for H in Hs
                ]
                points = [(H, value) for H, value in cells if value is not None]
                if points:
                    panels[device].append((v, N, [H for H, _ in points], [value for _, value in points]))
    return panels


def seconds_label(t: float, _pos=None) -> str:
    """a log axis's tick in the unit that keeps it short: 1 µs, 100 µs, 10 ms, 1 s"""
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if t >= scale * 0.999:
            return f"{t / scale:.3g} {unit}"
    return f"{t:.1g} s"


def plot_sweep(path: str | Path, medians: Medians):
    """The log-log figure of time per step against H, written to path (format from its suffix); returned."""
    from backprop_manual.cli.plot import figure_class  # first: it says how to install matplotlib where it is missing

    Figure = figure_class()
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

    panels, ratios = sweep_lines(medians), sweep_lines(medians, over_autograd=True)
    _, variants, Ns, Hs = axes_of(medians)
    style = {N: N_STYLES[i % len(N_STYLES)] for i, N in enumerate(Ns)}
    size = (PANEL_SIZE[0] * len(panels) + LEGEND_WIDTH, PANEL_SIZE[1] + RATIO_HEIGHT)
    fig = Figure(figsize=size, layout="constrained")
    grid = fig.subplots(
        2, len(panels), sharex=True, sharey="row", squeeze=False, height_ratios=[PANEL_SIZE[1], RATIO_HEIGHT]
    )
    for column, device in enumerate(panels):
        top, bottom = grid[0, column], grid[1, column]
        for ax, lines in ((top, panels[device]), (bottom, ratios[device])):
            for v, N, xs, ys in lines:
                ax.plot(xs, ys, color=SWEEP_COLORS.get(v, "tab:gray"), **style[N], **LINE)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.xaxis.set_major_locator(FixedLocator(Hs))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda h, _pos: f"{h:g}"))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.grid(True, which="major", color="0.9", linewidth=0.6)
        top.yaxis.set_major_formatter(FuncFormatter(seconds_label))
        top.grid(True, which="minor", axis="y", color="0.96", linewidth=0.5)
        top.set_title(device, fontsize=10)
        bottom.axhline(1, **AUTOGRAD_LINE)
        bottom.yaxis.set_major_locator(FixedLocator(RATIO_TICKS))
        bottom.yaxis.set_major_formatter(FuncFormatter(lambda r, _pos: f"{r:g}×"))
        bottom.yaxis.set_minor_locator(NullLocator())
        bottom.set_xlabel("hidden width H")
    grid[0, 0].set_ylabel("median time per training step")
    grid[1, 0].set_ylabel("time ÷ autograd's\n(below 1×: faster)")
    every = [r for lines in ratios.values() for *_, ys in lines for r in ys]
    if every:  # the ratio axis from the power of 2 below the least to the one above the most: ticks at both ends
        low, high = 2 ** math.floor(math.log2(min(every))), 2 ** math.ceil(math.log2(max(every)))
        grid[1, 0].set_ylim((low / 2, high * 2) if low == high else (low, high))
    by_variant = [Line2D([], [], color=SWEEP_COLORS.get(v, "tab:gray"), linewidth=2) for v in variants]
    by_N = [Line2D([], [], color="0.35", **style[N], **LINE) for N in Ns]
    legend = {"fontsize": LEGEND_FONT, "title_fontsize": LEGEND_FONT, "alignment": "left", "frameon": False}
    gap = Line2D([], [], linestyle="none")  # an empty row between the two keys
    fig.legend(
        [*by_variant, gap, *by_N],
        [*(label(v) for v in variants), "", *(f"N = {N}" for N in Ns)],
        title="colour: variant\nline and marker: batch N",
        loc="outside right center",
        **legend,
    )
    missing = [d for d in DEVICES if d not in panels]
    fig.suptitle(
        "one training step of the hidden layer d = 30 → H → 1, float32"
        + (f"\n{', '.join(missing)}: {NOT_MEASURED}" if missing else ""),
        fontsize=10,
    )
    fig.savefig(path, dpi=SWEEP_DPI)
    return fig


# The verifier's own cost: verify_chain against the work it compares, per case

VerifierCases = dict[str, dict]


def verifier_medians(benches: list[dict]) -> VerifierCases:
    """{case: {"names", "numel", "target": None or its name, "verify_chain": median s, "compared work": median s}}"""
    cases: VerifierCases = {}
    for b in benches:
        info = b["extra_info"]
        case = cases.setdefault(
            info["case"], {"names": info["names"], "numel": info["numel"], "target": info.get("target")}
        )
        case[info["variant"]] = b["stats"]["median"]
    return cases


def verifier_ratio(case: dict) -> float | None:
    """verify_chain's median / the compared work's; None where either is missing"""
    mine, work = case.get(VERIFY), case.get(COMPARED)
    return None if mine is None or work is None else mine / work


def render_verifier(cases: VerifierCases, *, figure: str | None = None) -> list[str]:
    def cell(t):
        return "–" if t is None else seconds_label(t)

    def ratio(case):
        r = verifier_ratio(case)
        return "–" if r is None else f"{times(r)}×"

    out = [
        "",
        "## the verifier's own cost: verify_chain against the work it compares",
        "",
        "compared work: one forward, autograd's gradient of every named tensor and one call of the hand-written "
        "backward; medians, float32, CPU.",
        "",
    ]
    if figure:
        out += [f"![verify_chain / compared work against numel per tensor, log-log, per number of names]({figure})", ""]
    grid = sorted((c for c in cases.values() if c["target"] is None), key=lambda c: (c["names"], c["numel"]))
    if grid:
        out += [
            "### verifier: an elementwise chain of named tensors",
            "",
            "| named tensors | numel per tensor | elements | verify_chain | compared work | ratio |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for c in grid:
            out.append(
                f"| {c['names']} | {c['numel']:,} | {c['names'] * c['numel']:,} | {cell(c.get(VERIFY))} | "
                f"{cell(c.get(COMPARED))} | {ratio(c)} |"
            )
        out.append("")
    targets = [c for c in cases.values() if c["target"] is not None]
    if targets:
        out += [
            "### verifier: targets",
            "",
            "| derivation | named tensors | elements | verify_chain | compared work | ratio | target | |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for c in sorted(targets, key=lambda c: c["target"]):
            r, most = verifier_ratio(c), VERIFIER_TARGETS.get(c["target"])
            verdict = "" if r is None or most is None else "met" if r <= most else "MISSED"
            bound = "" if most is None else f"≤ {most:g}×"
            out.append(
                f"| {c['target']} | {c['names']} | {c['numel']:,} | {cell(c.get(VERIFY))} | {cell(c.get(COMPARED))} "
                f"| {ratio(c)} | {bound} | {verdict} |"
            )
    return out if out[-1] else out[:-1]  # no blank line at the end


def verifier_lines(cases: VerifierCases) -> dict[int, tuple[list[int], list[float], list[float], list[float]]]:
    """{names: (numels, verify_chain medians, compared work medians, ratios)} of the grid, numel ascending: one line
    per number of named tensors. A case missing either variant is left out, never drawn as 0."""
    lines: dict[int, tuple[list, list, list, list]] = {}
    for c in sorted((c for c in cases.values() if c["target"] is None), key=lambda c: (c["names"], c["numel"])):
        r = verifier_ratio(c)
        if r is None:
            continue
        numels, mine, work, ratios = lines.setdefault(c["names"], ([], [], [], []))
        numels.append(c["numel"])
        mine.append(c[VERIFY])
        work.append(c[COMPARED])
        ratios.append(r)
    return lines


VERIFIER_COLORS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]  # colour = number of names
VERIFIER_SIZE = (7.5, 7.2)  # inches: times on top, ratios beneath
TARGET_MARKERS = ["*", "P"]


def plot_verifier(path: str | Path, cases: VerifierCases):
    """The log-log figure: median times of both variants, and their ratio, against numel per tensor; the targets'
    cases as single points at their mean numel per named tensor, beside their bounds."""
    from backprop_manual.cli.plot import figure_class

    Figure = figure_class()
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    lines = verifier_lines(cases)
    fig = Figure(figsize=VERIFIER_SIZE, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[1.2, 1])
    for i, (names, (numels, mine, work, ratios)) in enumerate(sorted(lines.items())):
        color = VERIFIER_COLORS[i % len(VERIFIER_COLORS)]
        top.plot(numels, mine, color=color, marker="o", **LINE, label=f"verify_chain, {names} names")
        top.plot(numels, work, color=color, marker="o", linestyle=":", **LINE, label=f"compared work, {names} names")
        bottom.plot(numels, ratios, color=color, marker="o", **LINE, label=f"{names} named tensors")
    targets = sorted((c for c in cases.values() if c["target"] is not None), key=lambda c: c["target"])
    for i, c in enumerate(targets):
        r = verifier_ratio(c)
        if r is None:
            continue
        marker, at = TARGET_MARKERS[i % len(TARGET_MARKERS)], c["numel"] / c["names"]
        bottom.plot([at], [r], color="black", marker=marker, markersize=9, linestyle="none", label=c["target"])
        most = VERIFIER_TARGETS.get(c["target"])
        if most is not None:
            bottom.axhline(most, color="0.5", linewidth=0.8, linestyle="--")
            bottom.annotate(f"target ≤ {most:g}×", (at, most), textcoords="offset points", xytext=(4, 3), fontsize=7)
    for ax in (top, bottom):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(True, which="major", color="0.9", linewidth=0.6)
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.legend(fontsize=LEGEND_FONT, frameon=False)
    top.yaxis.set_major_formatter(FuncFormatter(seconds_label))
    top.set_ylabel("median time per call")
    bottom.axhline(1, color="black", linewidth=0.8)
    bottom.yaxis.set_major_locator(LogLocator(base=2))
    bottom.yaxis.set_major_formatter(FuncFormatter(lambda r, _pos: f"{r:g}×"))
    bottom.set_ylabel("verify_chain ÷ compared work")
    bottom.set_xlabel("elements per named tensor")
    fig.suptitle("verify_chain against the work it compares, float32, CPU", fontsize=10)
    fig.savefig(path, dpi=SWEEP_DPI)
    return fig


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("json", help="the file written by pytest benchmarks --benchmark-json=FILE")
    p.add_argument("--output", "-o", metavar="MD", help="write the Markdown there (default: print it)")
    p.add_argument(
        "--figure",
        metavar="PNG",
        help="draw the sweep there, log-log, and link it from the Markdown "
        "(default: beside --output as <its stem>-sweep.png; none when printing)",
    )
    p.add_argument(
        "--verifier-figure",
        metavar="PNG",
        help="draw the verifier's cost there, log-log, and link it from the Markdown "
        "(default: beside --output as <its stem>-verifier.png; none when printing)",
    )
    args = p.parse_args(argv)
    report = load(args.json)
    sweep = sweep_medians([b for b in report["benchmarks"] if is_sweep(b)])
    if args.figure and not sweep:
        p.error(f"--figure: {args.json} has no sweep to draw (pytest benchmarks/test_bench_sweep.py --benchmark-json)")
    output = Path(args.output) if args.output else None
    figure = Path(args.figure) if args.figure else None
    if figure is None and output and sweep:
        figure = output.with_name(f"{output.stem}-sweep.png")
    link = None
    if figure:
        from backprop_manual.cli.plot import INSTALL, MatplotlibMissing  # imports torch: only when drawing

        try:
            plot_sweep(figure, sweep)
        except MatplotlibMissing:
            p.error(f"the sweep's figure needs matplotlib, which is not installed: {INSTALL}")
        link = Path(os.path.relpath(figure, output.parent)).as_posix() if output else figure.as_posix()
    verifier = verifier_medians([b for b in report["benchmarks"] if is_verifier(b)])
    if args.verifier_figure and not verifier:
        p.error(f"--verifier-figure: {args.json} has no verifier benchmarks (benchmarks/test_bench_verifier.py)")
    verifier_figure = Path(args.verifier_figure) if args.verifier_figure else None
    if verifier_figure is None and output and verifier:
        verifier_figure = output.with_name(f"{output.stem}-verifier.png")
    verifier_link = None
    if verifier_figure:
        from backprop_manual.cli.plot import INSTALL, MatplotlibMissing

        try:
            plot_verifier(verifier_figure, verifier)
        except MatplotlibMissing:
            p.error(f"the verifier's figure needs matplotlib, which is not installed: {INSTALL}")
        verifier_link = (
            Path(os.path.relpath(verifier_figure, output.parent)).as_posix() if output else verifier_figure.as_posix()
        )
    text = render(report, figure=link, verifier_figure=verifier_link)
    if output:
        output.write_text(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
