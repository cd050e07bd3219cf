"""One hidden layer, d -> H -> 1, tanh, sigmoid output, binary cross-entropy, on the 30 WDBC features.

forward:
    z1    = X W1 + b1              X [N, d], W1 [d, H], b1 [H]  ->  [N, H]
    h     = tanh(z1)               [N, H]
    z2    = h W2 + b2              W2 [H, 1], b2 [1]  ->  [N, 1]
    sigma = sigmoid(z2)            [N, 1], the prediction
    J     = (1/N) sum_n BCE(sigma_n, y_n), computed from z2 (logistic.bce_from_logits: stable)
backward, local derivative times upstream derivative, layer by layer:
    dJ/dz2 = (sigma - y) / N                      [N, 1], the logistic layer's fused sigma - y
    dJ/dW2 = h^T dJ/dz2                           [H, 1]
    dJ/db2 = sum_n dJ/dz2                         [1]
    dJ/dh  = dJ/dz2 W2^T                          [N, H]
    dJ/dz1 = (1 - h^2) ∘ dJ/dh                    tanh'(z1) = 1 - tanh(z1)^2 = 1 - h^2, elementwise
    dJ/dW1 = X^T dJ/dz1                           [d, H]
    dJ/db1 = sum_n dJ/dz1                         [H]
    dJ/dsigma = 0                                 sigma feeds nothing: J is computed from z2 (derivations/logistic.py)
hidden_relu.py is the same network with ReLU: only h and its local derivative change (forward_with, backward_with).
step: forward and backward fused into one training step, for speed, rounding alike (benchmarks/test_bench_sweep.py).
"""

import torch

from backprop_manual.derivations.logistic import bce_from_logits
from backprop_manual.derivations.matrix import read_features

LR = 0.5
H = 8


def tanh_local(z1, h):
    """dh/dz1 = 1 - tanh(z1)^2 = 1 - h^2"""
    return 1 - h**2


def forward_with(activation, W1, b1, W2, b2, X, y):
    z1 = X @ W1 + b1  # [N, H]
    h = activation(z1)
    z2 = h @ W2 + b2  # [N, 1]
    sigma = torch.sigmoid(z2)
    return {"z1": z1, "h": h, "z2": z2, "sigma": sigma, "loss": bce_from_logits(z2, y)}


def backward_with(local, fwd, W1, b1, W2, b2, X, y):
    """dJ/dz2 = (sigma - y)/N; dJ/dh = dJ/dz2 W2^T; dJ/dz1 = local(z1, h) ∘ dJ/dh; dJ/dW = input^T dJ/d(output)"""
    d_z2 = (fwd["sigma"] - y) / X.shape[0]
    d_h = d_z2 @ W2.T
    d_z1 = local(fwd["z1"], fwd["h"]) * d_h
    return {
        "z2": d_z2,
        "W2": fwd["h"].T @ d_z2,
        "b2": d_z2.sum(0),
        "h": d_h,
        "z1": d_z1,
        "W1": X.T @ d_z1,
        "b1": d_z1.sum(0),
        "sigma": torch.zeros_like(fwd["sigma"]),
    }


def forward(W1, b1, W2, b2, X, y):
    return forward_with(torch.tanh, W1, b1, W2, b2, X, y)


def backward(fwd, W1, b1, W2, b2, X, y):
    return backward_with(tanh_local, fwd, W1, b1, W2, b2, X, y)


@torch.inference_mode()  # no autograd bookkeeping per op; the parameters stay normal tensors
def step(W1, b1, W2, b2, X, y, lr=LR):
    """One step of gradient descent in place, p <- p - lr dJ/dp: the forward up to sigma (the update needs no J, only
    dJ/dz2 = (sigma - y)/N), then backward's chain rule, op for op, in place on the forward's temporaries. Each op
    rounds as in forward + backward, so the parameters come out bit for bit as hidden.backward + torch.optim.SGD's
    p.add_(dJ/dp, alpha=-lr) leave them (tests/derivations/test_hidden.py)."""
    h = (X @ W1).add_(b1).tanh_()  # [N, H]: z1's memory; z1 is read by nothing else, tanh'(z1) = 1 - h^2
    d_z2 = (h @ W2).add_(b2).sigmoid_().sub_(y).div_(X.shape[0])  # [N, 1]: z2 -> sigma -> (sigma - y)/N
    d_W2 = h.T @ d_z2
    d_b2 = d_z2.sum(0)
    d_h = d_z2 @ W2.T  # [N, H]
    d_z1 = h.mul_(h).neg_().add_(1).mul_(d_h)  # (1 - h^2) ∘ dJ/dh in h's memory, h's last reader being dJ/dW2
    torch._foreach_add_([W1, b1, W2, b2], [X.T @ d_z1, d_z1.sum(0), d_W2, d_b2], alpha=-lr)  # one dispatch for 4


def example(dtype, device, *, seed=0):
    """All 569 rows, H = 8 hidden units, W ~ N(0, 1/fan_in), b1 ~ N(0, 0.01), b2 = 0: drawn in float64 with a
    seeded generator, then rounded to dtype, so that both dtypes see the same point."""
    X, y = read_features(dtype=dtype, device=device)
    d = X.shape[1]
    params = initial(d, H, torch.Generator().manual_seed(seed))
    return {k: v.to(X) for k, v in params.items()}, {"X": X, "y": y[:, None]}  # y [N, 1], as z2


def initial(d: int, width: int, g: torch.Generator) -> dict[str, torch.Tensor]:
    """W1 ~ N(0, 1/d) [d, width], b1 ~ N(0, 0.01) [width], W2 ~ N(0, 1/width) [width, 1], b2 = 0 [1]: float64, drawn
    from g in that order (example's point, and the sweep's at any size)."""
    return {
        "W1": torch.randn(d, width, generator=g, dtype=torch.float64) / d**0.5,
        "b1": torch.randn(width, generator=g, dtype=torch.float64) * 0.1,
        "W2": torch.randn(width, 1, generator=g, dtype=torch.float64) / width**0.5,
        "b2": torch.zeros(1, dtype=torch.float64),
    }
