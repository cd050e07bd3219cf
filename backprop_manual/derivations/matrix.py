"""The lesson's neuron in matrix form: all N samples and d features at once, one J for the batch.

forward:
    z     = X w + b                        X [N, d], w [d], b []  ->  z [N]
    sigma = sigmoid(z)                     [N]
    J     = (1/N) sum_n (sigma_n - y_n)^2  the mean squared error: a scalar
backward:
    dJ/dsigma = 2 (sigma - y) / N                       delta_J_delta_sigma, averaged: [N]
    dJ/dz     = sigma (1 - sigma) · dJ/dsigma            delta_sigma_delta_z: [N]
    dJ/dw     = X^T dJ/dz                                [d]: sum_n x_n dJ/dz_n, the lesson's x · dJ/dz summed
    dJ/db     = sum_n dJ/dz_n                            []
With d = 1 this is the lesson's neuron, J the mean of its per-sample J_i: dJ/dw = (1/N) sum_i dJ_i/dw
(tests/derivations/test_matrix.py checks it, gradient and training trajectory).
Data: the 30 standardized WDBC features of data/wdbc_30.csv (data/README.md), read by read_features.
"""

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from backprop_manual._data import bundled
from backprop_manual.neuron.local_derivatives import delta_J_delta_sigma, delta_sigma_delta_z

WDBC_30 = bundled("wdbc_30.csv")
LR = 0.5


@lru_cache(maxsize=4)
def _table(path: Path, target: str) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd  # here, not at import: 0.5 s that `import backprop_manual` and every test process would pay

    df = pd.read_csv(path, index_col=0)  # the first column is the row index, as in data/cell_data.csv
    return df.drop(columns=target).to_numpy(), df[target].to_numpy()


def read_features(path: str | Path = WDBC_30, *, target: str = "is_cancerous", dtype, device):
    """(X [N, d], y [N]) of the caller's dtype and device: every column but the index and `target` is a feature."""
    X, y = _table(Path(path), target)
    return torch.tensor(X, dtype=dtype, device=device), torch.tensor(y, dtype=dtype, device=device)


def forward(w, b, X, y):
    z = X @ w + b  # [N]
    sigma = torch.sigmoid(z)
    return {"z": z, "sigma": sigma, "loss": ((sigma - y) ** 2).mean()}


def backward(fwd, w, b, X, y):
    """dJ/dsigma = 2 (sigma - y)/N; dJ/dz = sigma (1 - sigma) dJ/dsigma; dJ/dw = X^T dJ/dz; dJ/db = sum_n dJ/dz"""
    N = X.shape[0]
    d_sigma = delta_J_delta_sigma(fwd["sigma"], y) / N
    d_z = delta_sigma_delta_z(fwd["z"], fwd["sigma"]) * d_sigma
    return {"sigma": d_sigma, "z": d_z, "w": X.T @ d_z, "b": d_z.sum()}


def example(dtype, device):
    """All 569 rows and 30 features, every feature weighted alike: w = 0.1, b = -0.5 (z from -3.5 to 7)."""
    X, y = read_features(dtype=dtype, device=device)
    w = torch.full_like(X[0], 0.1)
    return {"w": w, "b": torch.full_like(w[0], -0.5)}, {"X": X, "y": y}
