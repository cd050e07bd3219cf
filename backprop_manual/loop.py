"""The per-sample gradient-descent loop of the lesson's "All together now", corrected.

for each epoch, for each sample (x, y):
    forward:  z = w·x + b,  y_hat = sigma(z),  J = (y_hat - y)^2
    backward: dJ/dw, dJ/db by the chain rule, with dz/dw = this sample's x (the lesson uses first_x: erratum)
    update:   w <- w - eta·dJ/dw,  b <- b - eta·dJ/db

Two forms, bit-for-bit equal (tests/test_loop_variants.py): `descent_by_passes` is the lesson's structure, one
call per local derivative; `gradient_descent` is the same arithmetic in 10 tensor ops per step and no Python-scalar ones, the hot path.
"""

from typing import NamedTuple

import torch

from backprop_manual.inputs import check_neuron_inputs
from backprop_manual.passes import backward, forward


class Descent(NamedTuple):
    w: torch.Tensor  # final w, 0-d
    b: torch.Tensor  # final b, 0-d
    trajectory: torch.Tensor | None  # [epochs, N, 3]: w and b after each step's update, J of that step's forward


def manual_step(
    w: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor, eta: float, one: torch.Tensor
) -> torch.Tensor:
    """One step in place; returns y_hat - y (so J = its square).

    y_hat = sigma(w·x + b)
    h     = dsigma/dz · (y_hat - y) = dJ/dz / 2, with dsigma/dz = y_hat (1 - y_hat) from the forward's y_hat
    w    <- w - 2 eta · (dz/dw · h),  dz/dw = x
    b    <- b - 2 eta · (dz/db · h),  dz/db = 1
    The factor 2 of dJ/dsigma = 2 (y_hat - y) moves into the step size: scaling by 2 is exact in binary floating
    point, so every rounding is the same as in upstream × local order (descent_by_passes).
    `one` is torch.ones_like(w), made once by the caller: a Python 1 would be wrapped into a tensor every step.
    """
    y_hat = torch.mul(w, x).add_(b).sigmoid_()  # in place on fresh temporaries: no extra allocations
    error = y_hat - y
    h = torch.sub(one, y_hat).mul_(y_hat).mul_(error)
    w.add_(x * h, alpha=-2 * eta)  # alpha form: rounded as torch.optim.SGD rounds p - lr·grad
    b.add_(h, alpha=-2 * eta)
    return error


def gradient_descent(
    w: torch.Tensor,
    b: torch.Tensor,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    eta: float = 1e-4,
    epochs: int = 20,
    trajectory: bool = False,
) -> Descent:
    """Per-sample gradient descent from (w, b) over `epochs` passes of (X, y); the caller's w and b are not changed."""
    check_neuron_inputs(w, b, X, y)
    w, b = w.detach().clone(), b.detach().clone()
    steps = X.new_empty((epochs, X.shape[0], 3)) if trajectory else None
    one = torch.ones_like(w)
    samples = list(zip(X.unbind(), y.unbind()))  # unbind once: indexing X[i] every step costs a tensor op
    with torch.inference_mode():  # no autograd bookkeeping per op; w and b stay normal tensors
        for epoch in range(epochs):
            for i, (x_i, y_i) in enumerate(samples):
                error = manual_step(w, b, x_i, y_i, eta, one)
                if steps is not None:
                    torch.stack((w, b, error * error), out=steps[epoch, i])
    return Descent(w, b, steps)


def descent_by_passes(
    w: torch.Tensor,
    b: torch.Tensor,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    eta: float = 1e-4,
    epochs: int = 20,
    trajectory: bool = False,
) -> Descent:
    """The same loop written as the lesson writes it: forward, backward (upstream × local), update."""
    check_neuron_inputs(w, b, X, y)
    w, b = w.detach().clone(), b.detach().clone()
    steps = X.new_empty((epochs, X.shape[0], 3)) if trajectory else None
    with torch.no_grad():
        for epoch in range(epochs):
            for i, (x_i, y_i) in enumerate(zip(X.unbind(), y.unbind())):
                fp = forward(w, x_i, b, y_i)
                grads = backward(x_i, y_i, fp)
                w.add_(grads.delta_J_delta_w, alpha=-eta)
                b.add_(grads.delta_J_delta_b, alpha=-eta)
                if steps is not None:
                    torch.stack((w, b, fp.J), out=steps[epoch, i])
    return Descent(w, b, steps)
