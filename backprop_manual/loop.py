"""The per-sample gradient-descent loop of the lesson's "All together now", corrected.

for each epoch, for each sample (x, y):
    forward:  z = w·x + b,  y_hat = sigma(z),  J = (y_hat - y)^2
    backward: dJ/dw, dJ/db by the chain rule, with dz/dw = this sample's x (the lesson uses first_x: erratum)
    update:   w <- w - eta·dJ/dw,  b <- b - eta·dJ/db
"""

from typing import NamedTuple

import torch

from backprop_manual.inputs import check_neuron_inputs
from backprop_manual.passes import backward, forward


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
    """Per-sample gradient descent from (w, b) over `epochs` passes of (X, y); the caller's w and b are not changed."""
    check_neuron_inputs(w, b, X, y)
    w, b = w.detach().clone(), b.detach().clone()
    steps = X.new_empty((epochs, X.shape[0], 3)) if trajectory else None
    samples = list(zip(X.unbind(), y.unbind()))  # unbind once: indexing X[i] every step costs a tensor op
    with torch.no_grad():
        for epoch in range(epochs):
            for i, (x_i, y_i) in enumerate(samples):
                fp = forward(w, x_i, b, y_i)
                grads = backward(x_i, y_i, fp)
                w.add_(grads.delta_J_delta_w, alpha=-eta)  # w - eta·dJ/dw, rounded as torch.optim.SGD rounds it
                b.add_(grads.delta_J_delta_b, alpha=-eta)
                if steps is not None:
                    steps[epoch, i, 0], steps[epoch, i, 1], steps[epoch, i, 2] = w, b, fp.J
    return Descent(w, b, steps)
