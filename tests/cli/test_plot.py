"""The training figure draws what the run computed: each point, line and zero-strip checked against the numbers."""

import struct

import pytest
import torch

from backprop_manual.check.tolerances import tolerances
from backprop_manual.cli.plot import COLORS, DPI, FIGURE, cost_per_epoch, figure, parameter_steps, plot_training
from backprop_manual.cli.side_by_side import SideBySide
from backprop_manual.neuron.loop import Descent

pytestmark = pytest.mark.wide_dtypes(
    "the lesson's neuron: backprop-manual runs it in float32 and float64 alone, its rounding bound an analysis of those"
)

NEEDS_PLOT = "the figure needs the extra plot: pip install -e '.[plot]'"


def made_up_run(dtype, epochs=2, n=3, *, w_off=(), b_off=()) -> SideBySide:
    """reference: w = 2, 2.1, ..., b = -2, J = 0.15, 0.16, ...; manual: the same plus (step, offset) pairs in w, b"""
    steps = epochs * n
    reference = torch.stack(
        (2 + torch.arange(steps) / 10, torch.full((steps,), -2.0), 0.15 + torch.arange(steps) / 100), dim=-1
    ).to(dtype)
    manual = reference.clone()
    for column, offsets in ((0, w_off), (1, b_off)):
        for step, offset in offsets:
            manual[step, column] += offset
    m, r = manual.reshape(epochs, n, 3), reference.reshape(epochs, n, 3)
    return SideBySide(Descent(m[-1, -1, 0], m[-1, -1, 1], m), Descent(r[-1, -1, 0], r[-1, -1, 1], r))


def test_parameter_steps_are_the_differences_the_allowance_and_one_ulp_in_the_runs_dtype(dtype):
    run = made_up_run(dtype, w_off=[(4, 2**-10)], b_off=[(0, -(2**-12)), (5, 2**-8)])
    w, b = parameter_steps(run)
    assert (w.name, b.name) == ("w", "b")
    expected_w, expected_b = torch.zeros(6, dtype=torch.float64), torch.zeros(6, dtype=torch.float64)
    expected_w[4], expected_b[0], expected_b[5] = 2**-10, 2**-12, 2**-8  # exact in both dtypes
    assert torch.equal(w.diff, expected_w) and torch.equal(b.diff, expected_b)
    rtol, atol = tolerances(dtype)
    reference_w = run.autograd.trajectory[..., 0].reshape(-1).double()
    torch.testing.assert_close(w.allowed, atol + rtol * reference_w, rtol=0, atol=0)
    torch.testing.assert_close(b.allowed, torch.full((6,), atol + rtol * 2, dtype=torch.float64), rtol=0, atol=0)
    one_ulp_of_2 = 2.0**-22 if dtype == torch.float32 else 2.0**-51  # 23 or 52 mantissa bits, exponent 1
    assert torch.equal(b.ulp, torch.full((6,), one_ulp_of_2, dtype=torch.float64))
    assert w.ulp[0] == one_ulp_of_2 and w.ulp[-1] == one_ulp_of_2  # w from 2.0 to 2.5: the same binade
    assert all(t.dtype == torch.float64 and t.device.type == "cpu" for p in (w, b) for t in p[1:])
    assert w.count() == "w: 5 of 6 steps exactly 0, largest 0.000977"
    assert b.count() == "b: 4 of 6 steps exactly 0, largest 0.00391"


def test_counts_have_thousands_separators():
    (w, _) = parameter_steps(made_up_run(torch.float64, epochs=500, n=3))
    assert w.count() == "w: 1,500 of 1,500 steps exactly 0, largest 0"


def test_cost_per_epoch_is_the_mean_of_each_epochs_J():
    run = made_up_run(torch.float32)
    run.manual.trajectory[1, 2, 2] += 0.03
    J_manual, J_reference = cost_per_epoch(run)
    torch.testing.assert_close(J_reference, torch.tensor([0.16, 0.19], dtype=torch.float64))
    torch.testing.assert_close(J_manual, torch.tensor([0.16, 0.20], dtype=torch.float64))


def drawn(run: SideBySide):
    pytest.importorskip("matplotlib", reason=NEEDS_PLOT)
    fig = figure(run, title="made up")
    assert len(fig.axes) == 3 and fig.get_suptitle() == "made up"
    return fig.axes


def lines_of(ax) -> dict:
    return {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}


def test_cost_panel_draws_both_loops_per_epoch_and_says_by_how_much_they_differ():
    run = made_up_run(torch.float64, epochs=3, n=4)
    run.manual.trajectory[2, 0, 2] += 0.004
    cost, _, _ = drawn(run)
    lines = lines_of(cost)
    manual, reference = (
        lines["manual loop (hand-derived gradients)"],
        lines["torch.nn + MSELoss + optim.SGD (autograd)"],
    )
    assert list(manual.get_xdata()) == list(reference.get_xdata()) == [1, 2, 3], "epochs count from 1"
    assert manual.get_marker() != reference.get_marker() and manual.get_linestyle() != reference.get_linestyle(), (
        "two curves that coincide must both stay visible"
    )
    assert all(line.get_marker() not in ("None", "", None) for line in (manual, reference)), "each epoch a point"
    J_manual, J_reference = cost_per_epoch(run)
    assert list(manual.get_ydata()) == J_manual.tolist() and list(reference.get_ydata()) == J_reference.tolist()
    assert cost.get_title() == "Cost per epoch (the curves differ, by 0.001 at most)"
    assert cost.get_xlabel() == "epoch" and cost.get_ylabel() == "J, mean over the epoch's 4 steps"
    assert all(float(t).is_integer() for t in cost.get_xticks()), "no 2.5 epochs on the axis"
    assert cost.get_legend() is not None


def test_log_panel_draws_each_difference_above_0_with_the_allowance_and_one_ulp():
    run = made_up_run(torch.float32, w_off=[(4, 2**-10)], b_off=[(0, -(2**-12)), (5, 2**-8)])
    _, diffs, strip = drawn(run)
    lines = lines_of(diffs)
    for p in parameter_steps(run):
        points = lines[f"|diff| of {p.name} > 0"]
        positive = torch.nonzero(p.diff).flatten()
        assert list(points.get_xdata()) == positive.tolist() and list(points.get_ydata()) == p.diff[positive].tolist()
        allowed, ulp = (
            lines[f"allowed for {p.name}: atol + rtol·|{p.name}|"],
            lines[f"1 ULP of {p.name}: the least |diff| > 0 there"],
        )
        for line, values in ((allowed, p.allowed), (ulp, p.ulp)):
            assert list(line.get_xdata()) == list(range(6)) and list(line.get_ydata()) == values.tolist()
        assert {line.get_color() for line in (points, allowed, ulp)} == {COLORS[p.name]}, "one colour per parameter"
        assert points.get_linestyle() == "None" and points.get_marker() not in ("None", None, ""), (
            "points, not a line: a line would draw differences between the steps that have one"
        )
        assert len({line.get_linestyle() for line in (allowed, ulp)}) == 2, "the allowance and the ULP look different"
        assert "-" not in (allowed.get_linestyle(), ulp.get_linestyle()), "scales are not solid, like data"
    assert COLORS["w"] != COLORS["b"]
    assert diffs.get_yscale() == "log"
    assert diffs.get_ylim() == pytest.approx((2**-22 / 100, 2**-8 * 1e4)), "from 1/100 ULP to 1e4 × the largest"
    assert diffs.get_title() == (
        "|manual − autograd| per step, after each update\n"
        "w: 5 of 6 steps exactly 0, largest 0.000977; b: 4 of 6 steps exactly 0, largest 0.00391"
    )
    assert diffs.get_ylabel() == "|manual − autograd| (log scale)" and not diffs.texts
    diffs.figure.draw_without_rendering()  # tick labels are made at draw time; get_xticklabels lists visible ones
    assert diffs.get_legend() is not None and not diffs.get_xticklabels(), "the strip below carries the step axis"
    assert strip.get_xticklabels()


def test_the_allowance_sets_the_top_of_the_log_axis_when_it_exceeds_every_difference():
    _, diffs, _ = drawn(made_up_run(torch.float64, w_off=[(1, 2**-40)]))
    rtol, atol = tolerances(torch.float64)
    assert diffs.get_ylim() == pytest.approx((2**-51 / 100, (atol + rtol * 2.5) * 1e4))


def covered_steps(strip, row: int) -> set[int]:
    """the steps a row of the zero strip covers: the integers x inside a bar of that row"""
    (bars,) = [c for c in strip.collections if abs(c.get_paths()[0].vertices[:, 1].mean() - row) < 0.5]
    covered = set()
    for path in bars.get_paths():
        xs, ys = path.vertices[:, 0], path.vertices[:, 1]
        assert ys.min() == pytest.approx(row - 0.35) and ys.max() == pytest.approx(row + 0.35)
        assert xs.max() - xs.min() == round(xs.max() - xs.min()) >= 1, "a bar is a whole number of steps wide"
        covered |= {s for s in range(-1, 10) if xs.min() < s < xs.max()}
    return covered


def test_zero_runs_are_the_first_and_last_step_of_each_run_of_exact_zeros():
    run = made_up_run(torch.float64, w_off=[(0, 1e-9), (2, 1e-9), (3, 1e-9)], b_off=[(5, 1e-9)])
    w, b = parameter_steps(run)
    assert w.zero_runs() == [(1, 1), (4, 5)] and b.zero_runs() == [(0, 4)]
    every = [(s, 1e-9) for s in range(6)]
    assert parameter_steps(made_up_run(torch.float64, w_off=every))[0].zero_runs() == []
    assert parameter_steps(made_up_run(torch.float64))[0].zero_runs() == [(0, 5)]


def test_an_isolated_exact_zero_is_drawn_a_step_wide():
    run = made_up_run(torch.float64, w_off=[(1, 1e-9), (3, 1e-9)])
    _, _, strip = drawn(run)
    assert covered_steps(strip, 0) == {0, 2, 4, 5}
    assert all(width == 0 for bars in strip.collections for width in bars.get_linewidths()), (
        "no edge line: it would widen a bar past its steps"
    )


def test_zero_strip_covers_exactly_the_steps_where_the_loops_agree_bit_for_bit():
    run = made_up_run(torch.float64, w_off=[(4, 1e-12)], b_off=[(0, 1e-9), (5, 1e-9)])
    _, diffs, strip = drawn(run)
    assert covered_steps(strip, 0) == {0, 1, 2, 3, 5}, "w differs at step 4 only"
    assert covered_steps(strip, 1) == {1, 2, 3, 4}, "b differs at steps 0 and 5"
    assert [t.get_text() for t in strip.get_yticklabels()] == ["w", "b"] and list(strip.get_yticks()) == [0, 1]
    assert strip.get_ylim() == (-0.6, 1.6) and strip.get_ylabel() == "= 0\nexactly"
    assert strip.get_xlabel() == "step (epoch × 3 + sample)" and not strip.texts
    assert strip.get_title() == "steps where |manual − autograd| is exactly 0 (a log axis cannot show 0)"
    assert strip.title.get_fontsize() < diffs.title.get_fontsize(), "the strip is a footnote to the log panel"
    from matplotlib.colors import to_rgba

    assert [tuple(c.get_facecolor()[0]) for c in strip.collections] == [to_rgba(COLORS[p]) for p in "wb"]


def inside(text, ax) -> bool:
    """the text lies inside the panel, centred on its middle (to a quarter of the text's height)"""
    ax.figure.draw_without_rendering()
    box, panel = text.get_window_extent(), ax.get_window_extent()
    centred = abs((box.y0 + box.y1) - (panel.y0 + panel.y1)) / 2 < box.height / 4
    return panel.x0 <= box.x0 < box.x1 <= panel.x1 and panel.y0 <= box.y0 < box.y1 <= panel.y1 and centred


def test_when_every_step_differs_the_strip_says_none_and_the_log_panel_has_no_note():
    every = [(s, 1e-9) for s in range(6)]
    _, diffs, strip = drawn(made_up_run(torch.float64, w_off=every, b_off=every))
    assert [t.get_text() for t in strip.texts] == ["none"] and not diffs.texts
    assert inside(strip.texts[0], strip) and not strip.collections[0].get_paths()


def test_when_no_step_differs_the_log_panel_says_so_and_draws_no_point():
    cost, diffs, strip = drawn(made_up_run(torch.float64))
    assert cost.get_title() == "Cost per epoch (the curves coincide: equal J in every epoch)"
    assert [t.get_text() for t in diffs.texts] == [
        "no step differs: no point > 0 to draw on a log axis (see the strip below)"
    ]
    assert inside(diffs.texts[0], diffs), "the note stands in the middle of its panel"
    lines = lines_of(diffs)
    assert [lines[f"|diff| of {p} > 0: none"].get_xdata().size for p in "wb"] == [0, 0]
    assert covered_steps(strip, 0) == covered_steps(strip, 1) == set(range(6)) and not strip.texts


def test_the_zero_strip_is_a_third_of_a_panels_height():
    fig = figure(made_up_run(torch.float64), title="made up")
    fig.draw_without_rendering()  # constrained layout places the axes at draw time
    top, diffs, strip = (ax.get_position().height for ax in fig.axes)
    assert top == pytest.approx(diffs, rel=0.05) and strip == pytest.approx(diffs / 3, rel=0.25)


def epoch_lines(ax) -> list:
    return [line.get_xdata()[0] for line in ax.get_lines() if line.get_label().startswith("_")]


@pytest.mark.parametrize(("epochs", "expected"), [(4, [3, 6, 9]), (50, [3 * e for e in range(1, 50)]), (51, [])])
def test_epoch_boundaries_are_marked_up_to_50_epochs(epochs, expected):
    _, diffs, strip = drawn(made_up_run(torch.float64, epochs=epochs))
    assert epoch_lines(diffs) == epoch_lines(strip) == expected
    data = [line for line in diffs.get_lines() if not line.get_label().startswith("_")]
    lowest = min(line.get_zorder() for line in data + strip.collections)
    assert all(line.get_zorder() < lowest for line in diffs.get_lines() + strip.get_lines() if line not in data), (
        "the boundaries are drawn beneath the data: they never hide a point"
    )


def png_size(path) -> tuple[int, int]:
    return struct.unpack(">II", path.read_bytes()[16:24])


def test_plot_training_writes_the_figure_as_png_at_its_resolution(tmp_path):
    pytest.importorskip("matplotlib", reason=NEEDS_PLOT)
    path = tmp_path / "training.png"
    fig = plot_training(path, made_up_run(torch.float64), title="made up")
    assert fig.get_suptitle() == "made up"
    width, height = FIGURE["figsize"]
    assert png_size(path) == (round(width * DPI), round(height * DPI))
