"""All per-sample gradients at once: the matrix form the lesson announces for its next lesson.

Three ways to the same [N] vectors of dJ/dw and dJ/db:
- manual, vectorized: the hand-derived chain rule is elementwise, so it takes X of shape [N] as is;
- autograd, per-sample trick: reference.autograd_gradients expands w and b to one leaf per sample;
- torch.func: vmap over samples of grad of the one-sample cost.
"""

import torch
from torch.func import grad, vmap

from backprop_manual.neuron_check.verify import autograd_gradients


def manual_per_sample(
    w: torch.Tensor, b: torch.Tensor, X: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(dJ/dw, dJ/db) per sample = (x · dJ/dz, dJ/dz), dJ/dz = y_hat (1 - y_hat) · 2 (y_hat - y), vectorized

    passes.gradients computes the same (bit for bit, tests/variants/test_variants.py) but also keeps J and dJ/dsigma;
    this is the lean form: 9 tensor ops per call, in place on its own temporaries.
    """
    y_hat = torch.mul(X, w).add_(b).sigmoid_()
    delta_J_delta_z = torch.rsub(y_hat, 1).mul_(y_hat).mul_(y_hat - y).mul_(2)  # 2 (y_hat - y) exact: same bits
    return X * delta_J_delta_z, delta_J_delta_z


def autograd_per_sample(
    w: torch.Tensor, b: torch.Tensor, X: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(dJ/dw, dJ/db) per sample from one backward() of the summed cost over per-sample leaves"""
    g = autograd_gradients(w, X, b, y)
    return g.delta_J_delta_w, g.delta_J_delta_b


def _one_sample_cost(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (torch.sigmoid(w * x + b) - y) ** 2  # torch's own ops, never the package's


_vmap_grad = vmap(grad(_one_sample_cost, argnums=(0, 1)), in_dims=(None, None, 0, 0))


def vmap_per_sample(
    w: torch.Tensor, b: torch.Tensor, X: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(dJ/dw, dJ/db) per sample = vmap(grad(J))"""
    return _vmap_grad(w, b, X, y)
