"""Every benchmarked variant computes what the reference computes, before anyone times it."""

import importlib.util
import sys

import numpy as np
import pytest
import torch

from backprop_manual.neuron import gradients
from backprop_manual.neuron.loop import gradient_descent
from backprop_manual.neuron_check.trajectory import compare_trajectories, nn_sgd_descent
from backprop_manual.variants.autograd_loop import autograd_descent
from backprop_manual.variants.cuda_graph import GraphedDescent, IndexedStep, graphed_descent
from backprop_manual.variants.float_loop import float_descent
from backprop_manual.variants.fused_loop import fused_descent
from backprop_manual.variants.numba_loop import INSTALL, NumbaMissing, compiled, numba_descent
from backprop_manual.variants.per_sample import autograd_per_sample, manual_per_sample, vmap_per_sample
from tests import shared

pytestmark = pytest.mark.wide_dtypes(
    "the lesson's neuron: backprop-manual runs it in float32 and float64 alone, its rounding bound an analysis of those"
)

SHORT = 2  # epochs: 1,138 steps are enough to show two loops agree; the 20-epoch lockstep is in test_trajectory.py
NO_NUMBA = f"the machine floor needs the extra numba: {INSTALL}"


def start(device, dtype):
    """(w, b, X, y): the lesson's starting point, fresh, and its data (shared: read only), on device in dtype"""
    data = shared.cell_data(dtype, device)
    return (*shared.start(dtype, device), data.X, data.y)


def test_fused_loop_is_bit_for_bit_gradient_descent(device, dtype):
    """The fused chain rule, timed as a variant, takes the lesson-structured loop's steps exactly."""
    fused = fused_descent(*start(device, dtype), epochs=20, trajectory=True)
    manual, _ = shared.lesson_training(dtype, device)  # gradient_descent, the same 20 epochs at eta 1e-4
    assert torch.equal(fused.trajectory, manual.trajectory), compare_trajectories(
        fused.trajectory, manual.trajectory
    ).summary()
    assert torch.equal(fused.w, manual.w) and torch.equal(fused.b, manual.b)


@pytest.mark.parametrize(
    "loop", [autograd_descent, gradient_descent, fused_descent], ids=["autograd", "manual", "fused"]
)
def test_loop_follows_nn_sgd(device, dtype, loop):
    ours = loop(*start(device, dtype), epochs=SHORT, trajectory=True)
    reference = nn_sgd_descent(*start(device, dtype), epochs=SHORT, trajectory=True)
    report = compare_trajectories(ours.trajectory, reference.trajectory)
    assert report.ok, report.summary()


def test_python_float_floor_ends_where_the_manual_loop_ends():
    w, b, X, y = start("cpu", torch.float64)
    floats = float_descent(2.0, -2.0, X.tolist(), y.tolist(), epochs=SHORT)
    manual = gradient_descent(w, b, X, y, epochs=SHORT)
    # math.exp and torch.sigmoid round differently; float64's default tolerance still holds after 1,138 steps
    torch.testing.assert_close(torch.tensor(floats, dtype=torch.float64), torch.stack((manual.w, manual.b)))


def test_numba_machine_floor_is_bit_for_bit_gradient_descent(dtype):
    """The compiled loop does gradient_descent's arithmetic op for op, every constant in X's dtype (to numba a Python
    float is a float64): the same w and b, bit for bit, after the lesson's 20 epochs, in float64 and in float32."""
    pytest.importorskip("numba", reason=NO_NUMBA)
    w, b, X, y = start("cpu", dtype)
    compiled_w, compiled_b = numba_descent(float(w), float(b), X.numpy(), y.numpy())
    assert (compiled_w.dtype, compiled_b.dtype) == (X.numpy().dtype,) * 2, "numba must not promote float32"
    manual, _ = shared.lesson_training(dtype, "cpu")  # gradient_descent, 20 epochs at its default eta 1e-4
    ours = torch.from_numpy(np.array([compiled_w, compiled_b]))
    theirs = torch.stack((manual.w, manual.b))
    assert torch.equal(ours, theirs), f"numba's (w, b) = {ours.tolist()}, gradient_descent's = {theirs.tolist()}"


def test_numba_descent_without_numba_says_how_to_install_it(monkeypatch):
    """The package imports without the extra; only a call of the machine floor needs it, and says so."""
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba raises ImportError, installed or not
    compiled.cache_clear()  # an earlier test may have compiled the loop
    try:
        with pytest.raises(NumbaMissing, match=r"needs numba, which is not installed: pip install -c constraints\.txt"):
            numba_descent(2.0, -2.0, np.zeros(3), np.zeros(3))
    finally:
        compiled.cache_clear()  # the next caller compiles with numba, if it is there


@pytest.mark.parametrize(
    "X, y, message",
    [
        (np.zeros(3, dtype=np.int64), np.zeros(3), "X must be a 1-D float64 or float32 array; got 1-D int64"),
        (np.zeros((3, 1)), np.zeros(3), "X must be a 1-D float64 or float32 array; got 2-D float64"),
        (np.zeros(3), np.zeros(4), r"y must have X's shape \[3\]; got \[4\]"),
    ],
    ids=["integer-X", "column-X", "y-of-another-length"],
)
def test_numba_descent_refuses_what_it_would_promote_or_misread(X, y, message):
    with pytest.raises(ValueError, match=message):
        numba_descent(2.0, -2.0, X, y)


@pytest.mark.parametrize("per_sample", [autograd_per_sample, vmap_per_sample], ids=["autograd", "vmap"])
def test_all_per_sample_gradients_agree(device, dtype, per_sample):
    w, b, X, y = start(device, dtype)
    manual = manual_per_sample(w, b, X, y)
    assert manual[0].shape == manual[1].shape == X.shape
    torch.testing.assert_close(per_sample(w, b, X, y), manual)


def test_lean_vectorized_gradients_are_bit_for_bit_the_chain_rules(device, dtype):
    w, b, X, y = start(device, dtype)
    chain = gradients(w, X, b, y)
    lean = manual_per_sample(w, b, X, y)
    assert torch.equal(lean[0], chain.delta_J_delta_w) and torch.equal(lean[1], chain.delta_J_delta_b)


def test_vectorized_gradients_are_the_loops_gradients():
    w, b, X, y = start("cpu", torch.float64)
    gw, gb = manual_per_sample(w, b, X, y)
    one = torch.tensor(0.05, dtype=torch.float64)  # step so small that w moves only by eta·dJ/dw
    after = gradient_descent(w, b, X[:1], y[:1], eta=float(one), epochs=1)
    torch.testing.assert_close(torch.stack(((w - after.w) / one, (b - after.b) / one)), torch.stack((gw[0], gb[0])))


def test_the_step_a_cuda_graph_captures_is_the_manual_loop_bit_for_bit(device, dtype):
    """IndexedStep, run eagerly, takes gradient_descent's steps: i advances and wraps round to sample 0 each epoch."""
    w, b, X, y = start(device, dtype)
    step = IndexedStep(w, b, X, y.long(), eta=1e-3)  # an integer target is cast to X's dtype, as the loops cast it
    for _ in range(SHORT * X.shape[0] + 1):
        step()
    eager = gradient_descent(w, b, X, y, eta=1e-3, epochs=SHORT)
    one_more = gradient_descent(eager.w, eager.b, X[:1], y[:1], eta=1e-3, epochs=1)
    assert torch.equal(step.w, one_more.w) and torch.equal(step.b, one_more.b)
    assert int(step.i) == 1 and step.i.device.type == device
    assert torch.equal(w, start(device, dtype)[0]), "the caller's w is not changed"
    step.reset(w, b)
    assert (torch.equal(step.w, w), torch.equal(step.b, b), int(step.i)) == (True, True, 0)


def test_a_cuda_graph_of_cpu_tensors_is_refused():
    with pytest.raises(ValueError, match="CUDA graphs need CUDA tensors; X is on cpu"):
        GraphedDescent(*start("cpu", torch.float32), eta=1e-4)


def test_cuda_graph_replays_the_manual_loop(device, dtype):
    if device != "cuda":
        pytest.skip("CUDA graphs exist only on CUDA")
    graphed = graphed_descent(*start(device, dtype), epochs=SHORT)
    eager = gradient_descent(*start(device, dtype), epochs=SHORT)
    torch.testing.assert_close(torch.stack(graphed[:2]), torch.stack(eager[:2]))
    assert graphed.w.device.type == "cuda"


HAVE_NUMBA = importlib.util.find_spec("numba") is not None


@pytest.mark.parametrize(
    "descent",
    [
        gradient_descent,
        fused_descent,
        autograd_descent,
        nn_sgd_descent,
        float_descent,
        pytest.param(numba_descent, marks=pytest.mark.skipif(not HAVE_NUMBA, reason=NO_NUMBA)),
    ],
    ids=["manual", "fused", "autograd", "nn-sgd", "python-floats", "numba"],
)
def test_every_loop_defaults_to_the_lessons_eta_and_20_epochs_and_no_trajectory(descent):
    """The lesson trains with eta = 1e-4 for 20 epochs; a loop called without them must do the same."""
    w, b, X, y = start("cpu", torch.float64)
    X, y = X[:5], y[:5]
    if descent is float_descent:
        w, b, X, y = 2.0, -2.0, X.tolist(), y.tolist()
    if descent is numba_descent:
        w, b, X, y = 2.0, -2.0, X.numpy(), y.numpy()
    defaults = descent(w, b, X, y)
    explicit = descent(w, b, X, y, eta=1e-4, epochs=20)
    for epochs, eta in ((19, 1e-4), (21, 1e-4), (20, 2e-4)):
        other = descent(w, b, X, y, eta=eta, epochs=epochs)
        assert (float(other[0]), float(other[1])) != (float(defaults[0]), float(defaults[1])), (epochs, eta)
    assert (float(defaults[0]), float(defaults[1])) == (float(explicit[0]), float(explicit[1]))
    if descent not in (float_descent, numba_descent):
        assert defaults.trajectory is None, "a trajectory is kept only when asked for: it costs 3 numbers per step"
