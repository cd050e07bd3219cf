"""The per-sample loop with autograd doing the backward: plain tensors with requires_grad and loss.backward().

Built from torch's own ops, like the oracle; a benchmark variant and a second reference trajectory.
"""

import torch

from backprop_manual.neuron.loop import Descent, check_neuron_inputs


def autograd_step(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor, eta: float) -> torch.Tensor:
    """J = (sigmoid(w·x + b) - y)^2; J.backward(); w, b <- w, b - eta·grad (in place); returns J."""
    loss = (torch.sigmoid(w * x + b) - y) ** 2
    loss.backward()
    with torch.no_grad():
        w.add_(w.grad, alpha=-eta)
        b.add_(b.grad, alpha=-eta)
    w.grad = b.grad = None
    return loss


def autograd_descent(
    w: torch.Tensor,
    b: torch.Tensor,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    eta: float = 1e-4,
    epochs: int = 20,
    trajectory: bool = False,
) -> Descent:
    """Per-sample gradient descent, autograd computing dJ/dw and dJ/db at every step."""
    check_neuron_inputs(w, b, X, y)
    w, b = (p.detach().clone().requires_grad_(True) for p in (w, b))
    steps = X.new_empty((epochs, X.shape[0], 3)) if trajectory else None
    samples = list(zip(X.unbind(), y.unbind()))
    for epoch in range(epochs):
        for i, (x_i, y_i) in enumerate(samples):
            loss = autograd_step(w, b, x_i, y_i, eta)
            if steps is not None:
                with torch.no_grad():
                    torch.stack((w, b, loss), out=steps[epoch, i])
    return Descent(w.detach(), b.detach(), steps)
