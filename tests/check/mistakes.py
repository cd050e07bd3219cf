"""Planted mistakes in the two-layer network's hand backward: each must fail and blame the right gradient first."""

import torch

from tests.check import two_layer as tl


def changed(**replace):
    """The correct backward, then the named gradients recomputed by `replace[name](grads, fwd, params, inputs)`."""

    def backward(fwd, W1, b1, W2, b2, X, y):
        g = tl.backward(fwd, W1, b1, W2, b2, X, y)
        env = dict(fwd=fwd, W1=W1, b1=b1, W2=W2, b2=b2, X=X, y=y, N=X.shape[0])
        for name, fn in replace.items():
            if fn is None:
                del g[name]
            else:
                g[name] = fn(g, **env)
        return g

    return backward


def no_fan_out_sum(fwd, W1, b1, W2, b2, X, y):
    """d_h = d_z2 W2^T only: the penalty's branch of the fan-out forgotten (a missing +=)"""
    g = tl.backward(fwd, W1, b1, W2, b2, X, y)
    d_h = g["z2"] @ W2.T
    d_zc = (1 - fwd["h"] ** 2) * d_h
    d_z1 = d_zc - d_zc.mean(0)
    return {**g, "h": d_h, "zc": d_zc, "z1": d_z1, "W1": X.T @ d_z1, "b1": d_z1.sum(0)}


def tanh_prime_as_1_minus_h(fwd, W1, b1, W2, b2, X, y):
    g = tl.backward(fwd, W1, b1, W2, b2, X, y)
    d_zc = (1 - fwd["h"]) * g["h"]
    d_z1 = d_zc - d_zc.mean(0)
    return {**g, "zc": d_zc, "z1": d_z1, "W1": X.T @ d_z1, "b1": d_z1.sum(0)}


def centering_backward_forgotten(fwd, W1, b1, W2, b2, X, y):
    g = tl.backward(fwd, W1, b1, W2, b2, X, y)
    return {**g, "z1": g["zc"], "W1": X.T @ g["zc"], "b1": g["zc"].sum(0)}


def float32_slip(fwd, W1, b1, W2, b2, X, y):
    """dJ/dW1 computed in float32 in a float64 run, then handed back as float64"""
    g = tl.backward(fwd, W1, b1, W2, b2, X, y)
    return {**g, "W1": (X.float().T @ g["z1"].float()).to(X.dtype)}


# name: (backward, the gradient that must be blamed first, the status it must have, dtypes it applies to)
MISTAKES = {
    "missing-+=-at-the-fan-out": (no_fan_out_sum, "h", "MISMATCH", None),
    "transposed-dW2": (changed(W2=lambda g, **e: (e["fwd"]["h"].T @ g["z2"]).T), "W2", "shape", None),
    "forgotten-1/N": (
        changed(sigma=lambda g, fwd, y, **e: (fwd["sigma"] - y) / (fwd["sigma"] * (1 - fwd["sigma"]))),
        "sigma",
        "MISMATCH",
        None,
    ),
    "float32-slip-in-float64": (float32_slip, "W1", "MISMATCH", torch.float64),
    "missing-gradient-b2": (changed(b2=None), "b2", "missing", None),
    "tanh'-as-1-h": (tanh_prime_as_1_minus_h, "zc", "MISMATCH", None),
    "centering-backward-forgotten": (centering_backward_forgotten, "z1", "MISMATCH", None),
    "sign-of-dz2": (changed(z2=lambda g, **e: -g["z2"]), "z2", "MISMATCH", None),
    "summed-batch-db1": (changed(b1=lambda g, **e: g["z1"].sum()), "b1", "shape", None),
    "dW1-with-W1-for-X": (changed(W1=lambda g, W1, **e: W1 * g["W1"].abs().max()), "W1", "MISMATCH", None),
    "nan-in-dsigma": (changed(sigma=lambda g, **e: g["sigma"] * torch.nan), "sigma", "not finite", None),
}
