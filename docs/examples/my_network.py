"""A learner's two-layer network, derived by hand, with one mistake in it (can you spot it before the tool does?).

z1 = x W1 + b1;  h = tanh(z1);  z2 = h W2 + b2;  sigma = sigmoid(z2);  J = mean (sigma - y)^2
"""

import torch


def forward(W1, b1, W2, b2, x, y):
    z1 = x @ W1 + b1
    h = torch.tanh(z1)
    z2 = h @ W2 + b2
    sigma = torch.sigmoid(z2)
    loss = ((sigma - y) ** 2).mean()
    return {"z1": z1, "h": h, "z2": z2, "sigma": sigma, "loss": loss}


def backward(fwd, W1, b1, W2, b2, x, y):
    N = x.shape[0]
    d_sigma = 2 * (fwd["sigma"] - y) / N
    d_z2 = fwd["sigma"] * (1 - fwd["sigma"]) * d_sigma
    d_h = d_z2 @ W2.T
    d_z1 = (1 - fwd["h"]) * d_h  # tanh'(z) = 1 - tanh(z)^2 ... or is it?
    return {
        "sigma": d_sigma,
        "z2": d_z2,
        "W2": fwd["h"].T @ d_z2,
        "b2": d_z2.sum(0),
        "h": d_h,
        "z1": d_z1,
        "W1": x.T @ d_z1,
        "b1": d_z1.sum(0),
    }


def example(dtype, device):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 2, generator=g, dtype=torch.float64)
    y = (x[:, :1] > 0).double()
    params = {
        "W1": torch.randn(2, 3, generator=g, dtype=torch.float64),
        "b1": torch.zeros(3, dtype=torch.float64),
        "W2": torch.randn(3, 1, generator=g, dtype=torch.float64),
        "b2": torch.zeros(1, dtype=torch.float64),
    }
    move = dict(dtype=dtype, device=device)
    return {k: v.to(**move) for k, v in params.items()}, {"x": x.to(**move), "y": y.to(**move)}
