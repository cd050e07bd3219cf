"""The loops' refusals say exactly what is wrong and how to fix it (tests/test_inputs.py checks that they refuse)."""

import pytest
import torch

from backprop_manual import gradient_descent, load_cell_data
from backprop_manual.inputs import check_neuron_inputs

CELL_DATA = load_cell_data()
W, B = torch.tensor(2.0, dtype=torch.float64), torch.tensor(-2.0, dtype=torch.float64)
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
