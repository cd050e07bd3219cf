"""The training figure: J per epoch of both loops; |manual - autograd| of w and b per step on a log scale.

A log axis has no 0, and the loops can agree bit for bit, so that every |diff| is exactly 0. Dropping the zeros
would leave an empty panel that reads as missing data; drawing them at some small value would invent a difference.
So the log panel shows only differences > 0, and a strip under it shows the steps where |diff| is exactly 0,
with the counts written in the figure. (matplotlib is the optional extra `plot`.)
"""

from pathlib import Path

import torch

from backprop_manual.tolerances import tolerances
from backprop_manual.training import SideBySide

INSTALL = "pip install 'backprop-manual[plot]' (or: pip install matplotlib)"
COLORS = {"w": "tab:blue", "b": "tab:orange"}


class MatplotlibMissing(RuntimeError):
    """--plot was asked for, but the optional extra is not installed."""


def figure_class():
    try:
        from matplotlib.figure import Figure  # the object API: no pyplot, no GUI backend, no global state
    except ImportError:
        raise MatplotlibMissing(f"--plot needs matplotlib, which is not installed: {INSTALL}") from None
    return Figure


def supported_formats() -> list[str]:
    return sorted(figure_class()().canvas.get_supported_filetypes())


def plot_training(path: str | Path, run: SideBySide, *, title: str) -> None:
    figure(run, title=title).savefig(path, dpi=110)


def figure(run: SideBySide, *, title: str):
    """Three panels: J per epoch; |diff| > 0 per step on a log axis; the steps where |diff| is exactly 0."""
    fig = figure_class()(figsize=(10, 8.5), layout="constrained")
    fig.suptitle(title)
    top, diffs, zeros = fig.subplots(3, 1, height_ratios=[3, 3, 1])
    cost_per_epoch(top, run)
    differences_per_step(diffs, zeros, run)
    return fig


def cost_per_epoch(ax, run: SideBySide) -> None:
    J_manual, J_reference = (d.trajectory[..., 2].double().mean(dim=1).cpu() for d in run)  # [epochs]
    epoch = torch.arange(1, len(J_manual) + 1)
    ax.plot(epoch, J_manual, "o-", label="manual loop (hand-derived gradients)")
    ax.plot(epoch, J_reference, "x--", markersize=9, label="torch.nn + MSELoss + optim.SGD (autograd)")
    gap = float((J_manual - J_reference).abs().max())
    same = "the curves coincide: equal J in every epoch" if gap == 0 else f"the curves differ, by {gap:.3g} at most"
    n = run.manual.trajectory.shape[1]
    ax.set(xlabel="epoch", ylabel=f"J, mean over the epoch's {n} steps", title=f"Cost per epoch ({same})")
    ax.xaxis.get_major_locator().set_params(integer=True)  # epochs are whole: no 2.5 on the axis
    ax.legend()


def differences_per_step(diffs, zeros, run: SideBySide) -> None:
    """|diff| > 0 on the log axis `diffs`, with the allowance and one ULP for scale; exact zeros on the strip."""
    epochs, n = run.manual.trajectory.shape[:2]
    step = torch.arange(epochs * n)
    rtol, atol = tolerances(run.reference.trajectory.dtype)
    diffs.set_yscale("log")
    zeros.sharex(diffs)
    counts, lowest, highest, any_positive, any_zero = [], [], 0.0, False, False
    for k, p in enumerate(("w", "b")):
        reference = run.reference.trajectory[..., k].reshape(-1)  # in the run's dtype: its ULP
        diff = (run.manual.trajectory[..., k].reshape(-1).double() - reference.double()).abs().cpu()
        positive = diff > 0
        any_positive, any_zero = any_positive or bool(positive.any()), any_zero or not bool(positive.all())
        ulp = (torch.nextafter(reference.abs(), torch.full_like(reference, torch.inf)) - reference.abs()).double().cpu()
        allowed = atol + rtol * reference.double().abs().cpu()
        lowest.append(float(ulp.min()))
        highest = max(highest, float(allowed.max()), float(diff.max()))
        none = "" if positive.any() else ": none"
        diffs.plot(step[positive], diff[positive], ".", color=COLORS[p], markersize=3, label=f"|diff| of {p} > 0{none}")
        diffs.plot(step, allowed, "--", color=COLORS[p], linewidth=1, label=f"allowed for {p}: atol + rtol·|{p}|")
        diffs.plot(step, ulp, ":", color=COLORS[p], linewidth=1, label=f"1 ULP of {p}: the least |diff| > 0 there")
        zeros.fill_between(step, k - 0.35, k + 0.35, where=~positive, color=COLORS[p], step="mid", linewidth=0)
        exactly = f"{int((~positive).sum()):,} of {len(diff):,} steps exactly 0"
        counts.append(f"{p}: {exactly}, largest {float(diff.max()):.3g}")
    diffs.set_ylim(min(lowest) / 100, highest * 1e4)  # room above the allowances for the legend
    title = "|manual − autograd| per step, after each update\n" + "; ".join(counts)
    diffs.set(ylabel="|manual − autograd| (log scale)", title=title)
    if not any_positive:
        note = "no step differs: no point > 0 to draw on a log axis (see the strip below)"
        diffs.text(0.5, 0.5, note, transform=diffs.transAxes, ha="center", fontsize=11)
    diffs.legend(loc="upper right", ncols=2, fontsize=8)
    diffs.tick_params(labelbottom=False)
    zeros.set(yticks=[0, 1], yticklabels=["w", "b"], ylim=(-0.6, 1.6), ylabel="= 0\nexactly")
    zeros.set(xlabel=f"step (epoch × {n} + sample)")
    zeros.set_title("steps where |manual − autograd| is exactly 0 (a log axis cannot show 0)", fontsize=9)
    if not any_zero:
        zeros.text(0.5, 0.5, "none", transform=zeros.transAxes, ha="center", va="center")
    if epochs <= 50:
        for ax in (diffs, zeros):
            for e in range(1, epochs):
                ax.axvline(e * n, color="0.85", linewidth=0.6, zorder=0)
