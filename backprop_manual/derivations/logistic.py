"""Logistic regression with binary cross-entropy on the 30 WDBC features: the famous sigma - y.

forward:
    z     = X w + b                               X [N, d], w [d], b []  ->  z [N]
    sigma = sigmoid(z)                            the prediction
    J     = -(1/N) sum_n [y log sigma + (1 - y) log(1 - sigma)]
          = -(1/N) sum_n [y logsigmoid(z) + (1 - y) logsigmoid(-z)]   the same J, from z: the stable form
backward:
    dJ/dz = (sigma - y) / N                       sigma's local derivative sigma (1 - sigma) cancels the BCE's
                                                  1 / (sigma (1 - sigma)): dJ/dsigma · dsigma/dz fused
    dJ/dw = X^T dJ/dz                             [d]
    dJ/db = sum_n dJ/dz_n                         []
    dJ/dsigma = 0                                 see below
Why the stable form: at saturation (|z| ~ 40) sigma rounds to 0 or 1 and the naive log(1 - sigma) is log 0 = -inf
(0 · log 0 = nan where the prediction is right). logsigmoid(z) = -log(1 + e^-z) works from z and stays finite and
precise: it keeps a loss of e^-40 that F.binary_cross_entropy_with_logits, finite too, rounds to 0 where y = 0 and
z = -40. The hand (sigma - y)/N stays finite (no division by sigma (1 - sigma)); where sigma rounds to 1 it gives 0
for autograd's -e^-40/N, an absolute 1e-18, inside the allowance (tests/derivations/test_logistic.py shows all).
Because J is computed from z, sigma feeds nothing: it is named, it is what the model predicts and what dJ/dz uses,
but along this graph dJ/dsigma is 0, and the backward says so.
"""

import torch
import torch.nn.functional as F

from backprop_manual.derivations.matrix import read_features

LR = 0.5


def forward(w, b, X, y):
    z = X @ w + b  # [N]
    sigma = torch.sigmoid(z)
    return {"z": z, "sigma": sigma, "loss": bce_from_logits(z, y)}


def backward(fwd, w, b, X, y):
    """dJ/dz = (sigma - y)/N; dJ/dw = X^T dJ/dz; dJ/db = sum_n dJ/dz; dJ/dsigma = 0 (J is computed from z)"""
    d_z = (fwd["sigma"] - y) / X.shape[0]
    return {"z": d_z, "w": X.T @ d_z, "b": d_z.sum(), "sigma": torch.zeros_like(fwd["sigma"])}


def bce_from_logits(z, y):
    """J = -mean [y logsigmoid(z) + (1 - y) logsigmoid(-z)]: the BCE of sigmoid(z), finite and precise at any z"""
    return -(y * F.logsigmoid(z) + (1 - y) * F.logsigmoid(-z)).mean()


def naive_loss(sigma, y):
    """J = -mean [y log sigma + (1 - y) log(1 - sigma)]: what the formula says, inf or nan once sigma saturates"""
    return -(y * torch.log(sigma) + (1 - y) * torch.log(1 - sigma)).mean()


def example(dtype, device):
    """All 569 rows and 30 features at w = 0.1, b = -0.5, as in the matrix form."""
    X, y = read_features(dtype=dtype, device=device)
    w = torch.full_like(X[0], 0.1)
    return {"w": w, "b": torch.full_like(w[0], -0.5)}, {"X": X, "y": y}
