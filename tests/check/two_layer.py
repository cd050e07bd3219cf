"""A two-layer network derived by hand, the verifier's own test case: fan-out, and a gradient zero in exact arithmetic.

z1 = X W1 + b1               [N, H]
zc = z1 - mean_n z1          centering: dJ/db1 = sum_n dJ/dz1 = 0 in exact arithmetic (rounding noise in floats)
h  = tanh(zc)
z2 = h W2 + b2               [N, 1]
sigma = sigmoid(z2)
penalty = lam/(2N) sum h^2   h fans out: into z2 and into the penalty
J = mean_n BCE(sigma, y) + penalty
"""

import torch

LAM = 0.1


def forward(W1, b1, W2, b2, X, y):
    N = X.shape[0]
    z1 = X @ W1 + b1
    zc = z1 - z1.mean(0)
    h = torch.tanh(zc)
    z2 = h @ W2 + b2
    sigma = torch.sigmoid(z2)
    penalty = LAM / (2 * N) * (h**2).sum()
    bce = -(y * torch.log(sigma) + (1 - y) * torch.log(1 - sigma)).mean()
    return {"z1": z1, "zc": zc, "h": h, "z2": z2, "sigma": sigma, "penalty": penalty, "loss": bce + penalty}


def backward(fwd, W1, b1, W2, b2, X, y):
    """dJ/dsigma = (sigma - y) / (sigma (1 - sigma)) / N;  dJ/dz2 = sigma (1 - sigma) dJ/dsigma;
    dJ/dW2 = h^T dJ/dz2;  dJ/db2 = sum_n dJ/dz2;  dJ/dh = dJ/dz2 W2^T + lam/N h  (both branches of the fan-out);
    dJ/dzc = (1 - h^2) dJ/dh;  dJ/dz1 = dJ/dzc - mean_n dJ/dzc;  dJ/dW1 = X^T dJ/dz1;  dJ/db1 = sum_n dJ/dz1"""
    N = X.shape[0]
    sigma, h = fwd["sigma"], fwd["h"]
    d_sigma = (sigma - y) / (sigma * (1 - sigma)) / N
    d_z2 = sigma * (1 - sigma) * d_sigma
    d_h = d_z2 @ W2.T
    d_h += LAM / N * h  # the fan-out: h also feeds the penalty
    d_zc = (1 - h**2) * d_h
    d_z1 = d_zc - d_zc.mean(0)
    return {
        "penalty": torch.ones_like(fwd["penalty"]),
        "sigma": d_sigma,
        "z2": d_z2,
        "W2": h.T @ d_z2,
        "b2": d_z2.sum(0),
        "h": d_h,
        "zc": d_zc,
        "z1": d_z1,
        "W1": X.T @ d_z1,
        "b1": d_z1.sum(0),
    }


def example(dtype, device, *, N=64, d=5, H=16, seed=0):
    """(params, inputs): seeded, drawn in float64 and then rounded to dtype, so both dtypes see the same point."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(N, d, generator=g, dtype=torch.float64)
    y = (torch.rand(N, 1, generator=g, dtype=torch.float64) < 0.5).double()
    params = {
        "W1": torch.randn(d, H, generator=g, dtype=torch.float64) / d**0.5,
        "b1": torch.randn(H, generator=g, dtype=torch.float64) * 0.1,
        "W2": torch.randn(H, 1, generator=g, dtype=torch.float64) / H**0.5,
        "b2": torch.zeros(1, dtype=torch.float64),
    }
    move = dict(dtype=dtype, device=device)
    return {k: v.to(**move) for k, v in params.items()}, {"X": X.to(**move), "y": y.to(**move)}
