"""The manual loop and torch.nn + MSELoss + SGD side by side, over the same samples, from the same (w, b); the
progress bar. `train` prints them (commands.py) and draws them (plot.py).
"""

from typing import NamedTuple

import torch
from tqdm import tqdm

from backprop_manual.neuron.loop import Descent, gradient_descent
from backprop_manual.neuron_check.trajectory import nn_sgd_descent

# The manual loop and torch.nn + MSELoss + SGD side by side, over the same samples, from the same (w, b).
#
# Per-sample SGD carries nothing from one step to the next but w and b (plain SGD keeps no state), so running both
# loops over consecutive blocks of samples takes the same steps, bit for bit, as one call over all of them
# (tests/cli/test_commands.py checks it); the blocks let a progress bar move.

BLOCK = 512  # samples per call: ~0.15 s of the torch.nn loop between two updates of the bar


class SideBySide(NamedTuple):
    manual: Descent  # trajectory [epochs, N, 3]: w, b after each step, J of that step
    autograd: Descent  # torch.nn + MSELoss + SGD


def side_by_side(
    w: torch.Tensor,
    b: torch.Tensor,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    eta: float,
    epochs: int,
    desc: str = "training",
    block: int = BLOCK,
) -> SideBySide:
    """gradient_descent and nn_sgd_descent from (w, b) over `epochs` passes of (X, y), trajectories kept."""
    loops = (gradient_descent, nn_sgd_descent)  # in SideBySide's order
    params = [(w, b) for _ in loops]
    steps: list[list[torch.Tensor]] = [[] for _ in loops]
    with bar(epochs * X.shape[0], desc, " steps") as progress:
        for _ in range(epochs):
            for start in range(0, X.shape[0], block):
                Xb, yb = X[start : start + block], y[start : start + block]
                for k, loop in enumerate(loops):
                    d = loop(*params[k], Xb, yb, eta=eta, epochs=1, trajectory=True)
                    params[k] = d.w, d.b
                    steps[k].append(d.trajectory)  # [1, block, 3]
                progress.update(Xb.shape[0])
    trajectories = [torch.cat(s, dim=1).reshape(epochs, X.shape[0], 3) for s in steps]
    return SideBySide(*(Descent(*p, t) for p, t in zip(params, trajectories, strict=True)))


# Progress bars for long work: drawn on a terminal, absent in a pipe or a CI log.
#
# tqdm's disable=None turns the bar off when its stream (stderr) is not a TTY; stdout keeps only the results.


def bar(total: int, desc: str, unit: str) -> tqdm:
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, disable=None, leave=False, dynamic_ncols=True)
