"""The lesson's own code, as written, kept as an exhibit for the errata and as the benchmark baseline.

Its X_tensor is the [N, 1] float64 column and its y_tensor the int64 target; w = torch.tensor(2.) is a 0-d
float32 that torch promotes to a float64 of shape [1] at the first update. Its delta_J_delta_sigma sums over
the batch, and In [95] uses first_x for dz/dw at every sample: the loop's bug. Do not use it; we reproduce it.
"""

import torch

from backprop_manual.neuron.loop import Descent


def lesson_delta_J_delta_sigma(y_hat, y):
    return torch.sum(2 * (y_hat - y))  # erratum: sums a batch into one number


def lesson_delta_sigma_delta(z):
    return torch.sigmoid(z) * (1 - torch.sigmoid(z))


def lesson_loop(
    X_tensor: torch.Tensor,
    y_tensor: torch.Tensor,
    w: torch.Tensor | None = None,
    b: torch.Tensor | None = None,
    *,
    eta: float = 0.0001,
    epochs: int = 20,
    trajectory: bool = False,
) -> Descent:
    """In [95] as written: dz/dw = first_x for every sample (the correct loop uses x)."""
    w = torch.tensor(2.0) if w is None else w
    b = torch.tensor(-2.0) if b is None else b
    first_x = X_tensor[0]
    steps = []
    for i in range(epochs):
        for x, y in zip(X_tensor, y_tensor):
            # forward propagation
            z = w * x + b
            y_hat = torch.sigmoid(z)
            # backward propagation
            dj_dsig = lesson_delta_J_delta_sigma(y_hat, y)
            dJ_dz = lesson_delta_sigma_delta(z) * dj_dsig
            dJ_dw = first_x * dJ_dz  # the lesson's bug: delta_z_delta_w(first_x)
            dJ_db = 1 * dJ_dz
            # update params w, b
            w = w - eta * dJ_dw
            b = b - eta * dJ_db
            if trajectory:
                steps.append(torch.cat((w.reshape(1), b.reshape(1), ((y_hat - y) ** 2).reshape(1))))
    shape = (epochs, X_tensor.shape[0], 3)
    return Descent(w, b, torch.stack(steps).reshape(shape) if trajectory else None)
