"""The per-sample gradient-descent loop of the lesson's "All together now", corrected.

for each epoch, for each sample (x, y):
    forward:  z = w·x + b,  y_hat = sigma(z),  J = (y_hat - y)^2               (passes.forward)
    backward: dJ/dw, dJ/db, upstream × local derivative, dz/dw = this sample's x (passes.backward; the lesson uses
              first_x: erratum)
    update:   w <- w - eta·dJ/dw,  b <- b - eta·dJ/db

This is the loop the trajectory check trains, so it must run the derivation being verified: passes and
local_derivatives are looked up at call time, and a wrong local derivative makes the trajectory part from
torch.nn + SGD at its first step. The same arithmetic fused into 10 tensor ops per step, for speed only, is
fused_loop.fused_descent (bit for bit equal: tests/test_loop_variants.py).
"""

from typing import NamedTuple

import torch

from backprop_manual import passes
from backprop_manual.inputs import check_neuron_inputs


class Descent(NamedTuple):
    w: torch.Tensor  # final w, 0-d
    b: torch.Tensor  # final b, 0-d
    trajectory: torch.Tensor | None  # [epochs, N, 3]: w and b after each step's update, J of that step's forward


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
    """Per-sample gradient descent from (w, b) over `epochs` passes of (X, y): forward, backward (upstream × local),
    update, as the lesson writes it; the caller's w and b are not changed."""
    check_neuron_inputs(w, b, X, y)
    w, b = w.detach().clone(), b.detach().clone()
    steps = X.new_empty((epochs, X.shape[0], 3)) if trajectory else None
    samples = list(zip(X.unbind(), y.unbind()))  # unbind once: indexing X[i] every step costs a tensor op
    with torch.inference_mode():  # no autograd bookkeeping per op; w and b stay normal tensors
        for epoch in range(epochs):
            for i, (x_i, y_i) in enumerate(samples):
                fp = passes.forward(w, x_i, b, y_i)
                grads = passes.backward(x_i, y_i, fp)
                w.add_(grads.delta_J_delta_w, alpha=-eta)  # alpha form: rounded as torch.optim.SGD rounds it
                b.add_(grads.delta_J_delta_b, alpha=-eta)
                if steps is not None:
                    torch.stack((w, b, fp.J), out=steps[epoch, i])
    return Descent(w, b, steps)
