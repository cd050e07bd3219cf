"""Forward propagation that keeps its intermediates, and backpropagation as upstream × local derivative."""

from typing import NamedTuple

import torch

from backprop_manual.neuron import local_derivatives as local

# by name from the module: backprop_manual.neuron.forward is the package's forward pass (below), not this module
from backprop_manual.neuron.forward import activation_fn, cost_fn, linear_fn


class Forward(NamedTuple):
    """The forward pass's intermediates, kept for the backward pass."""

    z: torch.Tensor  # z = w·x + b
    y_hat: torch.Tensor  # sigma(z)
    J: torch.Tensor  # (y_hat - y)^2


class Gradients(NamedTuple):
    """dJ/d(every intermediate), in chain order: the first wrong field is the bug, the later ones echo it."""

    delta_J_delta_sigma: torch.Tensor
    delta_J_delta_z: torch.Tensor
    delta_J_delta_w: torch.Tensor
    delta_J_delta_b: torch.Tensor


CHAIN = Gradients._fields
"""The intermediates in chain order, by their lesson names."""


def forward(w: torch.Tensor, x: torch.Tensor, b: torch.Tensor, y: torch.Tensor) -> Forward:
    """z = w·x + b;  y_hat = sigma(z);  J = (y_hat - y)^2"""
    z = linear_fn(w, x, b)
    y_hat = activation_fn(z)
    return Forward(z, y_hat, cost_fn(y_hat, y))


def backward(x: torch.Tensor, y: torch.Tensor, fp: Forward) -> Gradients:
    """Each layer's dJ = its local derivative × the upstream derivative, reusing the forward values:

    dJ/dsigma = 2 (y_hat - y)
    dJ/dz     = dsigma/dz · dJ/dsigma   with dsigma/dz = y_hat (1 - y_hat)
    dJ/dw     = dz/dw · dJ/dz           with dz/dw = x
    dJ/db     = dz/db · dJ/dz           with dz/db = 1
    """
    delta_J_delta_sigma = local.delta_J_delta_sigma(fp.y_hat, y)
    delta_J_delta_z = local.delta_sigma_delta_z(fp.z, sigma=fp.y_hat) * delta_J_delta_sigma
    delta_J_delta_w = local.delta_z_delta_w(x) * delta_J_delta_z
    delta_J_delta_b = local.delta_z_delta_b() * delta_J_delta_z
    return Gradients(delta_J_delta_sigma, delta_J_delta_z, delta_J_delta_w, delta_J_delta_b)


def gradients(w: torch.Tensor, x: torch.Tensor, b: torch.Tensor, y: torch.Tensor) -> Gradients:
    """Forward then backward: the hand-derived dJ/dsigma, dJ/dz, dJ/dw, dJ/db for each sample."""
    return backward(x, y, forward(w, x, b, y))
