"""Softmax cross-entropy over C classes: Fisher's iris, d = 4 standardized features, C = 3 species.

forward:
    logits = X W + b                        X [N, d], W [d, C], b [C]  ->  [N, C]
    p      = softmax(logits) along C        p[n, c] = exp(logits[n, c]) / sum_k exp(logits[n, k]), the prediction
    J      = (1/N) sum_n -log p[n, y_n]     computed from the logits (F.cross_entropy: log-sum-exp, stable)
backward:
    dJ/dlogits = (p - onehot(y)) / N        per sample: dJ/dp = -onehot / (N p) through the softmax Jacobian
                                            diag(p) - p p^T gives (p - onehot)/N, as sum_c onehot_c = 1:
                                            fused, the C x C Jacobian is never formed
    dJ/dW = X^T dJ/dlogits                  [d, C]
    dJ/db = sum_n dJ/dlogits                [C]
    dJ/dp = 0                               p feeds nothing: J is computed from the logits (as sigma in logistic.py)
Why iris and not the two WDBC classes: with C = 2 softmax is logistic regression over again (logits[1] - logits[0]
is logistic's z); three classes make the rows of p - onehot carry more than one sign. y holds class indices (int64).
Data: data/iris.csv (data/README.md), read by matrix.read_features.
"""

import torch
import torch.nn.functional as F

from backprop_manual._data import bundled
from backprop_manual.derivations.matrix import read_features

IRIS = bundled("iris.csv")
LR = 0.5


def forward(W, b, X, y):
    logits = X @ W + b  # [N, C]
    p = torch.softmax(logits, dim=1)
    return {"logits": logits, "p": p, "loss": F.cross_entropy(logits, y)}


def backward(fwd, W, b, X, y):
    """dJ/dlogits = (p - onehot(y))/N; dJ/dW = X^T dJ/dlogits; dJ/db = sum_n dJ/dlogits; dJ/dp = 0"""
    p = fwd["p"]
    onehot = F.one_hot(y, p.shape[1]).to(p.dtype)
    d_logits = (p - onehot) / X.shape[0]
    return {"logits": d_logits, "W": X.T @ d_logits, "b": d_logits.sum(0), "p": torch.zeros_like(p)}


def example(dtype, device, *, seed=0):
    """All 150 flowers, W ~ N(0, 1/d) drawn in float64 with a seeded generator and rounded to dtype, b = 0."""
    X, species = read_features(IRIS, target="species", dtype=dtype, device=device)
    y = species.long()  # class indices, as F.cross_entropy and F.one_hot take them
    C = int(y.max()) + 1
    g = torch.Generator().manual_seed(seed)
    W = (torch.randn(X.shape[1], C, generator=g, dtype=torch.float64) / X.shape[1] ** 0.5).to(X)
    return {"W": W, "b": torch.zeros_like(W[0])}, {"X": X, "y": y}
