"""The loops take one dtype and device from the caller and refuse what torch would silently promote or move; the
manual loop runs the hand-derived local derivatives."""

import pytest
import torch

from backprop_manual import nn_sgd_descent
from backprop_manual.neuron import gradient_descent, local_derivatives
from backprop_manual.neuron.loop import check_neuron_inputs
from tests.shared import cell_data, start

pytestmark = pytest.mark.wide_dtypes(
    "the lesson's neuron: backprop-manual runs it in float32 and float64 alone, its rounding bound an analysis of those"
)

CELL_DATA = cell_data()
W, B = start()  # float64, as the data


@pytest.mark.parametrize("loop", [gradient_descent, nn_sgd_descent], ids=["manual", "nn_sgd"])
@pytest.mark.parametrize(
    "args, message",
    [
        pytest.param(
            (torch.tensor(2.0), B, CELL_DATA.X, CELL_DATA.y),
            "w is torch.float32 but X is torch.float64",
            id="lessons-float32-w",
        ),
        pytest.param((W, B, CELL_DATA.X.reshape(-1, 1), CELL_DATA.y), "use X.squeeze(1)", id="lessons-Nx1-X"),
        pytest.param((W.reshape(1), B, CELL_DATA.X, CELL_DATA.y), "w must be a 0-d tensor", id="w-shape-1"),
        pytest.param((W, B, CELL_DATA.X, CELL_DATA.y[:5]), "y must have X's shape", id="short-y"),
        pytest.param((W, B, CELL_DATA.X, CELL_DATA.y.float()), "y is torch.float32", id="float32-y"),
        pytest.param((W, B, CELL_DATA.X.long(), CELL_DATA.y), "floating-point", id="integer-X"),
    ],
)
def test_refuses_what_torch_would_promote(loop, args, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        loop(*args, epochs=1)


def test_integer_target_is_accepted_and_changes_nothing():
    as_float = gradient_descent(W, B, CELL_DATA.X, CELL_DATA.y, epochs=1)
    as_int = gradient_descent(W, B, CELL_DATA.X, CELL_DATA.y.long(), epochs=1)
    assert (as_int.w.dtype, float(as_int.w), float(as_int.b)) == (torch.float64, float(as_float.w), float(as_float.b))


def test_parameters_on_another_device_are_refused():
    with pytest.raises(ValueError, match="w is on meta but X is on cpu"):
        gradient_descent(W.to("meta"), B, CELL_DATA.X, CELL_DATA.y, epochs=1)


# ----------------------------------------
# The loops' refusals say exactly what is wrong and how to fix it (tests/neuron/test_loop.py checks that they refuse).

X, Y = CELL_DATA.X[:3], CELL_DATA.y[:3]


@pytest.mark.parametrize(
    "args, message",
    [
        pytest.param(
            (W, B, X.reshape(3, 1), Y),
            "X must be 1-D, one feature value per sample; got shape [3, 1] (use X.squeeze(1))",
            id="column-X",
        ),
        pytest.param(
            (W, B, X.reshape(1, 3), Y), "X must be 1-D, one feature value per sample; got shape [1, 3]", id="row-X"
        ),
        pytest.param(
            (W, B, torch.stack((X, X), 1), Y),
            "X must be 1-D, one feature value per sample; got shape [3, 2]",
            id="two-features",
        ),
        pytest.param((W, B.reshape(1), X, Y), "b must be a 0-d tensor; got shape [1]", id="b-shape-1"),
        pytest.param(
            (W, B.float(), X, Y),
            "b is torch.float32 but X is torch.float64: torch would promote the result behind your back; "
            "create b with dtype=torch.float64",
            id="float32-b",
        ),
        pytest.param((W, B.to("meta"), X, Y), "b is on meta but X is on cpu: move them yourself", id="b-elsewhere"),
        pytest.param((W, B, X, Y.to("meta")), "y is on meta but X is on cpu: move them yourself", id="y-elsewhere"),
    ],
)
def test_the_refusal_names_the_argument_and_the_fix(args, message):
    with pytest.raises(ValueError) as excinfo:
        check_neuron_inputs(*args)
    assert str(excinfo.value) == message


def test_the_loop_runs_the_lessons_20_epochs_by_default():
    assert gradient_descent(W, B, X, Y, trajectory=True).trajectory.shape == (20, 3, 3)


def wrong(local):
    """A local derivative's wrong twin: twice the right value."""
    return lambda *args, **kwargs: 2 * local(*args, **kwargs)


@pytest.mark.parametrize("name", ["delta_J_delta_sigma", "delta_sigma_delta_z", "delta_z_delta_w", "delta_z_delta_b"])
def test_gradient_descent_runs_the_hand_derived_local_derivatives(monkeypatch, name):
    """Each local derivative is looked up when the loop runs: a wrong one moves the very first step."""
    w, b, X, y = W, B, CELL_DATA.X, CELL_DATA.y
    right = gradient_descent(w, b, X[:1], y[:1], epochs=1)
    monkeypatch.setattr(local_derivatives, name, wrong(getattr(local_derivatives, name)))
    broken = gradient_descent(w, b, X[:1], y[:1], epochs=1)
    moved = {p: float(r) != float(k) for p, r, k in zip("wb", right[:2], broken[:2], strict=True)}
    assert moved == {"w": name != "delta_z_delta_b", "b": name != "delta_z_delta_w"}, (name, moved)
