"""Both loops, block by block of samples (so that a progress bar can move), take exactly the steps of one call."""

import pytest
import torch

from backprop_manual import gradient_descent, load_cell_data, nn_sgd_descent
from backprop_manual.training import side_by_side

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
