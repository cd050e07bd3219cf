"""The lesson's neuron in the chain form: one J per sample, the package's own forward and local derivatives.

forward, per sample i:
    z     = w·x + b                      linear_fn
    sigma = sigmoid(z)                   activation_fn
    J     = (sigma - y)^2                cost_fn, one J per sample (PER_SAMPLE)
backward, local derivative times upstream derivative, from the top layer down:
    dJ/dsigma = 2 (sigma - y)                          delta_J_delta_sigma
    dJ/dz     = dsigma/dz · dJ/dsigma                  delta_sigma_delta_z = sigma (1 - sigma)
    dJ/dw     = dz/dw · dJ/dz = x · dJ/dz              delta_z_delta_w
    dJ/db     = dz/db · dJ/dz = 1 · dJ/dz              delta_z_delta_b
Each sample's dJ_i/dw and dJ_i/db, as the lesson's loop uses them one sample at a time (LR = eta = 1e-4).
"""

import torch

from backprop_manual.neuron.data import load_cell_data
from backprop_manual.neuron.forward import activation_fn, cost_fn, linear_fn
from backprop_manual.neuron.local_derivatives import (
    delta_J_delta_sigma,
    delta_sigma_delta_z,
    delta_z_delta_b,
    delta_z_delta_w,
)

PER_SAMPLE = True
LR = 1e-4  # the lesson's eta


def forward(w, b, x, y):
    z = linear_fn(w, x, b)  # [N]
    sigma = activation_fn(z)  # [N]
    return {"z": z, "sigma": sigma, "loss": cost_fn(sigma, y)}  # loss [N]: one J per sample


def backward(fwd, w, b, x, y):
    """dJ/dsigma = 2 (sigma - y); dJ/dz = sigma (1 - sigma) dJ/dsigma; dJ/dw = x dJ/dz; dJ/db = dJ/dz"""
    d_sigma = delta_J_delta_sigma(fwd["sigma"], y)
    d_z = delta_sigma_delta_z(fwd["z"], fwd["sigma"]) * d_sigma
    return {"sigma": d_sigma, "z": d_z, "w": delta_z_delta_w(x) * d_z, "b": delta_z_delta_b() * d_z}


def example(dtype, device):
    """The bundled cell data (mean_area, is_cancerous) at the lesson's w = 2, b = -2."""
    data = load_cell_data(dtype=dtype, device=device)
    w = torch.full((), 2.0, dtype=dtype, device=device)
    return {"w": w, "b": torch.full_like(w, -2.0)}, {"x": data.X, "y": data.y}
