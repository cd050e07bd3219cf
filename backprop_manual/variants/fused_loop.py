"""The per-sample loop with the chain rule fused into 10 tensor ops per step: a benchmarked variant, not the lesson.

It writes dJ/dw and dJ/db inline instead of calling the hand-derived local derivatives, so it verifies nothing
about them; what it shows is how fast the same arithmetic can go. tests/variants/test_variants.py checks it bit for bit
against `loop.gradient_descent`, the loop that runs the derivation being verified.
"""

import torch

from backprop_manual.neuron.loop import Descent, check_neuron_inputs


def manual_step(
    w: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor, eta: float, one: torch.Tensor
) -> torch.Tensor:
    """One step in place; returns y_hat - y (so J = its square).

    y_hat = sigma(w·x + b)
    h     = dsigma/dz · (y_hat - y) = dJ/dz / 2, with dsigma/dz = y_hat (1 - y_hat) from the forward's y_hat
    w    <- w - 2 eta · (dz/dw · h),  dz/dw = x
    b    <- b - 2 eta · (dz/db · h),  dz/db = 1
    The factor 2 of dJ/dsigma = 2 (y_hat - y) moves into the step size: scaling by 2 is exact in binary floating
    point, so every rounding is the same as in upstream × local order (loop.gradient_descent).
    `one` is torch.ones_like(w), made once by the caller: a Python 1 would be wrapped into a tensor every step.
    """
    y_hat = torch.mul(w, x).add_(b).sigmoid_()  # in place on fresh temporaries: no extra allocations
    error = y_hat - y
    h = torch.sub(one, y_hat).mul_(y_hat).mul_(error)
    w.add_(x * h, alpha=-2 * eta)  # alpha form: rounded as torch.optim.SGD rounds p - lr·grad
    b.add_(h, alpha=-2 * eta)
    return error


def fused_descent(
    w: torch.Tensor,
    b: torch.Tensor,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    eta: float = 1e-4,
    epochs: int = 20,
    trajectory: bool = False,
) -> Descent:
    """gradient_descent with every step a manual_step; the caller's w and b are not changed."""
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
