"""The autograd oracle for one neuron, built from torch's own ops only (never from this package's functions).

    z = w·x + b   (torch's *, +);   sigma = torch.sigmoid(z);   J = F.mse_loss(sigma, y, reduction="none")
verify_gradients hands it to the chain verifier's oracle (check/oracle.py) in per-sample mode: each sample's own
dJ/dw and dJ/db by torch.func.vmap(torch.func.grad(J_i)). autograd_gradients asks the same oracle with the
per-sample-leaf trick instead, w and b expanded to one leaf per sample, so that w and b may also be given one per
sample (a point per sample): one torch.autograd.grad of the summed cost, bit for bit the same gradients
(tests/test_witness.py).
"""

import torch
import torch.nn.functional as F

from backprop_manual.check.oracle import autograd_oracle
from backprop_manual.passes import Gradients


def oracle_forward(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """z = w·x + b, sigma = sigmoid(z), J = (sigma - y)^2 per sample, in torch's own ops"""
    z = w * x + b
    sigma = torch.sigmoid(z)
    return {"z": z, "sigma": sigma, "loss": F.mse_loss(sigma, y.to(sigma.dtype), reduction="none")}


def autograd_gradients(w: torch.Tensor, x: torch.Tensor, b: torch.Tensor, y: torch.Tensor) -> Gradients:
    """autograd's dJ/dsigma, dJ/dz, dJ/dw, dJ/db for each sample of x (0-d or 1-D)"""
    shape = x.shape
    x, y = x.reshape(-1), y.reshape(-1)
    leaves = {"w": w.detach().expand(x.shape), "b": b.detach().expand(x.shape)}  # one leaf per sample
    g = autograd_oracle(summed_forward, leaves, {"x": x, "y": y}, per_sample=False, samples=None)
    return Gradients(*(g.gradients[n].reshape(shape) for n in ("sigma", "z", "w", "b")))


def summed_forward(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """oracle_forward with J summed over the samples, which do not interact: d(sum J)/dz_i = dJ_i/dz_i"""
    out = oracle_forward(w, b, x, y)
    return {**out, "loss": out["loss"].sum()}
