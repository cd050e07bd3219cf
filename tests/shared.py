"""The setup many tests share: the lesson's data set, its starting point w = 2, b = -2, and its 20-epoch run.

cell_data(dtype, device) is loaded once per test process (per xdist worker) and must not be changed in place;
start(dtype, device) gives fresh 0-d tensors at each call, so a test may do with them what it likes; lesson_training
is, like cell_data, computed once per process and read only. Tests that
only read the float64 data take the session fixture `cell_data` (tests/conftest.py); module-level tables and
helpers that need it before any fixture exists (parametrize ids, a module's helper functions) call cell_data().
"""

from functools import cache

import torch

from backprop_manual import nn_sgd_descent
from backprop_manual.neuron import Descent, gradient_descent, load_cell_data
from backprop_manual.neuron.data import Samples


@cache
def cell_data(dtype: torch.dtype = torch.float64, device: str = "cpu") -> Samples:
    """data/cell_data.csv read straight into dtype (float32 rounds each decimal once, not via float64)"""
    return load_cell_data(dtype=dtype, device=device)


def start(dtype: torch.dtype = torch.float64, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The lesson's starting point: w = 2, b = -2, as 0-d tensors of this dtype on this device."""
    return torch.tensor(2.0, dtype=dtype, device=device), torch.tensor(-2.0, dtype=dtype, device=device)


EPOCHS, ETA = 20, 1e-4  # the lesson's training run


def lesson_training(dtype: torch.dtype = torch.float64, device: str = "cpu") -> tuple[Descent, Descent]:
    """The lesson's run, 20 epochs at eta = 1e-4 from w = 2, b = -2, every step recorded: the hand-derived loop
    (gradient_descent) and torch.nn + MSELoss + SGD (nn_sgd_descent). Read only: shared by every test that needs it."""
    return lesson_manual(dtype, device), lesson_reference(dtype, device)


# Each loop trains once per (dtype, device) and process, on its own: a test that reads only the hand-derived loop's
# run (tests/variants, tests/neuron/test_lesson.py) does not pay for torch.nn + SGD's, ~4x as slow, in an xdist
# worker that runs no test of the reference.
@cache
def lesson_manual(dtype: torch.dtype = torch.float64, device: str = "cpu") -> Descent:
    data = cell_data(dtype, device)
    return gradient_descent(*start(dtype, device), data.X, data.y, eta=ETA, epochs=EPOCHS, trajectory=True)


@cache
def lesson_reference(dtype: torch.dtype = torch.float64, device: str = "cpu") -> Descent:
    data = cell_data(dtype, device)
    return nn_sgd_descent(*start(dtype, device), data.X, data.y, eta=ETA, epochs=EPOCHS, trajectory=True)
