"""The training figure: J per epoch of both loops; |manual - autograd| of w and b per step on a log scale.

A log axis has no 0, and the loops can agree bit for bit, so that every |diff| is exactly 0. Dropping the zeros
would leave an empty panel that reads as missing data; drawing them at some small value would invent a difference.
So the log panel shows only differences > 0, and a strip under it shows the steps where |diff| is exactly 0,
with the counts written in the figure. (matplotlib is the optional extra `plot`.)

What is drawn is computed by `parameter_steps` and `cost_per_epoch` (tested value by value); how it looks (sizes,
colours, line styles) is in the constants below, checked by looking at the PNG.
"""

from pathlib import Path
from typing import NamedTuple

import torch

from backprop_manual.check.compare import counted
from backprop_manual.check.tolerances import tolerances
from backprop_manual.cli.side_by_side import SideBySide

INSTALL = "pip install 'backprop-manual[plot]' (or: pip install matplotlib)"
COLORS = {"w": "tab:blue", "b": "tab:red"}
FIGURE = {"figsize": (10, 8.5), "layout": "constrained"}
PANEL_HEIGHTS = [3, 3, 1]
DPI = 110
MANUAL_J = {"marker": "o", "linestyle": "-"}
REFERENCE_J = {"marker": "x", "linestyle": "--", "markersize": 9}
POINTS = {"marker": ".", "linestyle": "none", "markersize": 3}
ALLOWED, ONE_ULP = {"linestyle": "--", "linewidth": 1}, {"linestyle": ":", "linewidth": 1}
STRIP_HEIGHT = 0.7  # of a row's 1
EPOCH_LINE = {"color": "0.85", "linewidth": 0.6, "zorder": 0}
MOST_EPOCH_LINES = 50  # more would grey the panel out
LEGEND = {"loc": "upper right", "ncols": 2, "fontsize": 8}
SMALL_TITLE = 9  # the strip is a footnote to the log panel


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


def plot_training(path: str | Path, run: SideBySide, *, title: str):
    """The figure, written to path (its format from the suffix); returned for a look at what was drawn."""
    fig = figure(run, title=title)
    fig.savefig(path, dpi=DPI)
    return fig


class ParameterSteps(NamedTuple):
    """One parameter's |manual - autograd| per step, float64 on the CPU, with what the log panel draws for scale."""

    name: str  # "w" or "b"
    diff: torch.Tensor  # [epochs·N]: |manual - reference| after each step's update
    allowed: torch.Tensor  # [epochs·N]: atol + rtol·|reference|, the run's dtype's allowance
    ulp: torch.Tensor  # [epochs·N]: one ULP of |reference| in the run's dtype, the least |diff| > 0 there

    def zero_runs(self) -> list[tuple[int, int]]:
        """(first, last) step of each run of consecutive steps where |diff| is exactly 0"""
        edge = torch.zeros(1, dtype=torch.int8)
        change = torch.diff(torch.cat((edge, (self.diff == 0).to(torch.int8), edge)))
        starts, ends = (change == 1).nonzero().flatten(), (change == -1).nonzero().flatten() - 1
        return list(zip(starts.tolist(), ends.tolist(), strict=True))

    def count(self) -> str:
        zeros = int((self.diff == 0).sum())
        steps = f"{len(self.diff):,} step{'' if len(self.diff) == 1 else 's'}"
        return f"{self.name}: {zeros:,} of {steps} exactly 0, largest {float(self.diff.max()):.3g}"


def parameter_steps(run: SideBySide) -> list[ParameterSteps]:
    """|manual - reference| of w and b per step, computed in float64 from the run's dtype"""
    rtol, atol = tolerances(run.autograd.trajectory.dtype)
    out = []
    for k, name in enumerate(("w", "b")):
        reference = run.autograd.trajectory[..., k].reshape(-1)  # in the run's dtype: its ULP
        manual = run.manual.trajectory[..., k].reshape(-1)
        magnitude = reference.abs()
        ulp = torch.nextafter(magnitude, torch.full_like(magnitude, torch.inf)) - magnitude
        out.append(
            ParameterSteps(
                name,
                (manual.double() - reference.double()).abs().cpu(),
                (atol + rtol * magnitude.double()).cpu(),
                ulp.double().cpu(),
            )
        )
    return out


def cost_per_epoch(run: SideBySide) -> tuple[torch.Tensor, torch.Tensor]:
    """J averaged over each epoch's steps, float64 [epochs], of the manual and the reference loop"""
    J_manual, J_reference = (d.trajectory[..., 2].double().mean(dim=1).cpu() for d in run)
    return J_manual, J_reference


def figure(run: SideBySide, *, title: str):
    """Three panels: J per epoch; |diff| > 0 per step on a log axis; the steps where |diff| is exactly 0."""
    fig = figure_class()(**FIGURE)
    fig.suptitle(title)
    top, diffs, zeros = fig.subplots(3, 1, height_ratios=PANEL_HEIGHTS)
    draw_cost(top, run)
    draw_differences(diffs, zeros, run)
    return fig


def draw_cost(ax, run: SideBySide) -> None:
    J_manual, J_reference = cost_per_epoch(run)
    epoch = torch.arange(1, len(J_manual) + 1)
    ax.plot(epoch, J_manual, label="manual loop (hand-derived gradients)", **MANUAL_J)
    ax.plot(epoch, J_reference, label="torch.nn + MSELoss + optim.SGD (autograd)", **REFERENCE_J)
    gap = float((J_manual - J_reference).abs().max())
    same = "the curves coincide: equal J in every epoch" if gap == 0 else f"the curves differ, by {gap:.3g} at most"
    n = run.manual.trajectory.shape[1]
    ax.set(xlabel="epoch", ylabel=f"J, mean over the epoch's {counted(n, 'step')}", title=f"Cost per epoch ({same})")
    ax.xaxis.get_major_locator().set_params(integer=True)  # epochs are whole: no 2.5 on the axis
    ax.legend()


def draw_differences(diffs, zeros, run: SideBySide) -> None:
    """|diff| > 0 on the log axis `diffs`, with the allowance and one ULP for scale; exact zeros on the strip."""
    epochs, n = run.manual.trajectory.shape[:2]
    step = torch.arange(epochs * n)
    diffs.set_yscale("log")
    zeros.sharex(diffs)
    params = parameter_steps(run)
    for k, p in enumerate(params):
        color, positive = COLORS[p.name], p.diff > 0
        none = "" if positive.any() else ": none"
        diffs.plot(step[positive], p.diff[positive], color=color, label=f"|diff| of {p.name} > 0{none}", **POINTS)
        diffs.plot(step, p.allowed, color=color, label=f"allowed for {p.name}: atol + rtol·|{p.name}|", **ALLOWED)
        diffs.plot(step, p.ulp, color=color, label=f"1 ULP of {p.name}: the least |diff| > 0 there", **ONE_ULP)
        # one bar per run of exact zeros, a step wide per step: an isolated zero stays visible
        runs = [(first - 0.5, last - first + 1) for first, last in p.zero_runs()]
        zeros.broken_barh(runs, (k - STRIP_HEIGHT / 2, STRIP_HEIGHT), color=color, linewidth=0)
    lowest = min(float(p.ulp.min()) for p in params)
    highest = max(max(float(p.allowed.max()), float(p.diff.max())) for p in params)
    diffs.set_ylim(lowest / 100, highest * 1e4)  # room above the allowances for the legend
    title = "|manual − autograd| per step, after each update\n" + "; ".join(p.count() for p in params)
    diffs.set(ylabel="|manual − autograd| (log scale)", title=title)
    if all(bool((p.diff == 0).all()) for p in params):
        centred_note(diffs, "no step differs: no point > 0 to draw on a log axis (see the strip below)")
    diffs.legend(**LEGEND)
    diffs.tick_params(labelbottom=False)
    zeros.set(yticks=[0, 1], yticklabels=["w", "b"], ylim=(-0.6, 1.6), ylabel="= 0\nexactly")
    zeros.set(xlabel=f"step (epoch × {n} + sample)")
    zeros.set_title("steps where |manual − autograd| is exactly 0 (a log axis cannot show 0)", fontsize=SMALL_TITLE)
    if all(bool((p.diff > 0).all()) for p in params):
        centred_note(zeros, "none")
    if epochs <= MOST_EPOCH_LINES:
        for ax in (diffs, zeros):
            for e in range(1, epochs):
                ax.axvline(e * n, **EPOCH_LINE)


def centred_note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center")
