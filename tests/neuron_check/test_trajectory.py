"""neuron_check/trajectory.py: the package's loop against torch.nn + MSELoss + torch.optim.SGD (nn_sgd_descent), in
lockstep: every step's w and b; compare_trajectories' report, its allowance, and no non-finite step ever ok."""

import pytest
import torch

from backprop_manual import nn_sgd_descent
from backprop_manual.check.tolerances import tolerances
from backprop_manual.neuron import gradient_descent
from backprop_manual.neuron_check.trajectory import Divergence, TrajectoryReport, compare_trajectories
from tests import shared
from tests.shared import EPOCHS, lesson_training, start

pytestmark = pytest.mark.wide_dtypes(
    "the lesson's neuron: backprop-manual runs it in float32 and float64 alone, its rounding bound an analysis of those"
)

CELL_DATA = shared.cell_data()  # float64 on the CPU
F64 = torch.float64


@pytest.mark.heavy
def test_manual_loop_follows_nn_sgd_step_by_step(device, dtype):
    manual, reference = lesson_training(dtype, device)  # 20 epochs at eta 1e-4, each (dtype, device) once
    report = compare_trajectories(manual.trajectory, reference.trajectory)
    assert report.steps == EPOCHS * 569
    assert report.ok, report.summary()


def test_manual_loop_keeps_dtype_device_and_shape(device, dtype):
    manual, _ = lesson_training(dtype, device)
    for t in (manual.w, manual.b, manual.trajectory):
        assert (t.device.type, t.dtype) == (device, dtype)
    assert manual.w.shape == manual.b.shape == torch.Size([])
    assert manual.trajectory.shape == (EPOCHS, 569, 3)


def test_trajectory_records_each_step_that_the_final_values_end(cell_data):
    w, b = start()
    with_steps = gradient_descent(w, b, cell_data.X, cell_data.y, epochs=2, trajectory=True)
    without = gradient_descent(w, b, cell_data.X, cell_data.y, epochs=2)
    assert without.trajectory is None
    assert (float(with_steps.trajectory[-1, -1, 0]), float(with_steps.trajectory[-1, -1, 1])) == (
        float(without.w),
        float(without.b),
    )
    assert (float(w), float(b)) == (2.0, -2.0), "the caller's parameters were changed in place"


def test_a_drifting_trajectory_is_reported_at_its_first_step(cell_data):
    reference = gradient_descent(*start(), cell_data.X, cell_data.y, epochs=3, trajectory=True).trajectory
    drifted = reference.clone()
    drifted[1, 7:, 1] += 1e-6  # b wrong from epoch 1, sample 7 on
    report = compare_trajectories(drifted, reference)
    assert (report.first.epoch, report.first.sample, report.first.parameter) == (1, 7, "b")


def test_trajectory_summary_and_divergence():
    d = Divergence(epoch=1, sample=7, parameter="b", manual=-1.5, autograd=-1.25, allowance=2e-7)
    assert str(d) == "epoch 1, sample 7, parameter b: manual -1.5 vs autograd -1.25, |diff| 0.25 > allowed 2e-07"
    ok = TrajectoryReport(steps=3, max_abs={"w": 0.0, "b": 1e-9}, first=None)
    assert ok.summary() == "trajectory, 3 steps: max |diff| w 0.000e+00, max |diff| b 1.000e-09: ok"
    one = TrajectoryReport(steps=1, max_abs={"w": 0.0, "b": 0.0}, first=None)
    assert one.summary().startswith("trajectory, 1 step: "), "never '1 steps'"
    bad = TrajectoryReport(steps=3, max_abs={"w": 0.0, "b": 0.25}, first=d)
    assert (
        bad.summary() == f"trajectory, 3 steps: max |diff| w 0.000e+00, max |diff| b 2.500e-01: MISMATCH, first at {d}"
    )


# --- the trajectory comparison ----------------------------------------------------------------------------------


def trajectory(w_values, b_values, dtype=F64):
    """[1 epoch, N steps, (w, b, J)]"""
    steps = torch.tensor([[w, b, 0.0] for w, b in zip(w_values, b_values)], dtype=F64)
    return steps.reshape(1, -1, 3).to(dtype)


def test_trajectory_allows_atol_near_zero_and_reports_the_allowance():
    rtol, atol = tolerances(F64)
    reference = trajectory([0.0, 0.0, 2.0], [0.0, 0.0, -2.0])
    inside = compare_trajectories(trajectory([5e-8, 0.0, 2.0], [0.0, 0.0, -2.0]), reference)
    assert inside.ok, "5e-8 from 0 is inside atol 1e-7"
    outside = compare_trajectories(trajectory([0.0, 0.0, 2.0], [0.0, 0.0, -2.0 - 5e-7]), reference)
    assert (outside.first.sample, outside.first.parameter) == (2, "b")
    assert outside.first.allowance == atol + rtol * 2.0


def test_a_trajectory_in_another_dtype_diverges_at_its_first_step():
    reference = trajectory([2.0, 2.0], [-2.0, -2.0])
    report = compare_trajectories(trajectory([2.0, 2.0], [-2.0, -2.0], dtype=torch.float32), reference)
    assert (report.first.epoch, report.first.sample, report.first.parameter) == (0, 0, "w")


def test_the_nn_sgd_reference_keeps_no_trajectory_unless_asked():
    w, b = shared.start(F64)
    assert nn_sgd_descent(w, b, CELL_DATA.X[:3], CELL_DATA.y[:3], epochs=1).trajectory is None


# The comparison the commands put on the loops' trajectories (the tests above check agreement on real runs; here each
# non-finite case, on a hand-made pair): NaN or inf is never agreement, inf == inf included.
NAN, INF = float("nan"), float("inf")


def pair(manual_w: list[float], reference_w: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Two [1, N, 3] trajectories that differ only in w; b and J are 0 throughout."""
    m, r = (torch.tensor([[[v, 0.0, 0.0] for v in w]], dtype=torch.float64) for w in (manual_w, reference_w))
    return m, r


@pytest.mark.parametrize(
    "manual_w, reference_w, status, at, max_w",
    [
        pytest.param([1.0, 2.0], [1.0, 2.0], "ok", None, 0.0, id="finite-and-equal"),
        pytest.param([1.0, NAN], [1.0, 2.0], "MISMATCH", 1, NAN, id="nan-on-the-manual-side"),
        pytest.param([1.0, 2.0], [1.0, INF], "MISMATCH", 1, INF, id="inf-on-the-autograd-side"),
        pytest.param([1.0, INF], [1.0, -INF], "MISMATCH", 1, INF, id="opposite-infinities"),
        pytest.param([1.0, INF, INF], [1.0, INF, INF], "overflow", 1, 0.0, id="the-same-inf-on-both-sides"),
        pytest.param([1.0, NAN, NAN], [1.0, NAN, NAN], "overflow", 1, 0.0, id="nan-on-both-sides"),
        pytest.param([1.5, INF], [1.0, INF], "MISMATCH", 0, 0.5, id="a-divergence-before-the-overflow"),
    ],
)
def test_a_non_finite_step_is_never_ok(manual_w, reference_w, status, at, max_w):
    report = compare_trajectories(*pair(manual_w, reference_w))
    assert (report.status, report.ok) == (status, status == "ok"), report.summary()
    step = report.first or report.overflow
    assert (None if step is None else step.sample) == at
    assert report.max_abs["w"] == pytest.approx(max_w, nan_ok=True), "over the steps compared: before an overflow"
    assert report.summary().endswith(": ok") == (status == "ok")
    if status == "overflow":
        assert "not verified: both loops overflowed at epoch 0, sample 1, parameter w" in report.summary()
