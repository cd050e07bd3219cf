"""The autograd oracle for one neuron, built from torch's own ops only (never from this package's functions).

dJ/dsigma and dJ/dz are read from the non-leaf tensors (retain_grad); dJ/dw and dJ/db from loss.backward().
Per-sample trick: w and b are expanded to one leaf per sample, so that backward() of the summed cost gives
each sample's own dJ/dw and dJ/db (the samples do not interact).
"""

import torch
import torch.nn.functional as F

from backprop_manual.passes import Gradients


def autograd_gradients(w: torch.Tensor, x: torch.Tensor, b: torch.Tensor, y: torch.Tensor) -> Gradients:
    """autograd's dJ/dsigma, dJ/dz, dJ/dw, dJ/db for each sample of x (0-d or 1-D)"""
    w_leaf = w.detach().expand(x.shape).clone().requires_grad_(True)
    b_leaf = b.detach().expand(x.shape).clone().requires_grad_(True)
    with torch.enable_grad():
        z = w_leaf * x + b_leaf
        sigma = torch.sigmoid(z)
        z.retain_grad()
        sigma.retain_grad()
        loss = F.mse_loss(sigma, y.to(sigma.dtype), reduction="none")  # (sigma - y)^2, one per sample
        loss.sum().backward()
    return Gradients(sigma.grad, z.grad, w_leaf.grad, b_leaf.grad)
