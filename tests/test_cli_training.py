"""Both loops, block by block of samples (so that a progress bar can move), take exactly the steps of one call;
the comparison of their trajectories never counts a non-finite step as agreement."""

import pytest
import torch

from backprop_manual import gradient_descent, load_cell_data, nn_sgd_descent
from backprop_manual.training import side_by_side
from backprop_manual.trajectory import compare_trajectories

EPOCHS, ETA = 3, 1e-3  # a larger step than the lesson's, so that w and b move in every block


@pytest.mark.parametrize("block", [pytest.param(100, id="block100"), pytest.param(4096, id="one-block")])
def test_blocks_take_the_steps_of_one_call_bit_for_bit(device, dtype, block):
    data = load_cell_data(dtype=dtype, device=device)
    w, b = (torch.tensor(p, dtype=dtype, device=device) for p in (2.0, -2.0))
    run = side_by_side(w, b, data.X, data.y, eta=ETA, epochs=EPOCHS, block=block)
    for blocked, loop in ((run.manual, gradient_descent), (run.reference, nn_sgd_descent)):
        whole = loop(w, b, data.X, data.y, eta=ETA, epochs=EPOCHS, trajectory=True)
        assert blocked.trajectory.shape == (EPOCHS, 569, 3)
        assert torch.equal(blocked.trajectory, whole.trajectory), loop.__name__
        assert torch.equal(blocked.w, whole.w) and torch.equal(blocked.b, whole.b), loop.__name__
    assert float(run.manual.w) != 2.0, "the parameters moved"


# The comparison the commands put on those trajectories (tests/test_trajectory.py checks agreement on real runs;
# here each non-finite case, on a hand-made pair): NaN or inf is never agreement, inf == inf included.
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
