"""The lesson's local derivatives, each next to the formula it differentiates.

`delta_A_delta_B` always means dA/dB. Every function works elementwise: a batch of samples gives one
derivative per sample.

Erratum: the lesson's `delta_J_delta_sigma` returns `torch.sum(2*(y_hat - y))`. For one sample the sum is
harmless; for a batch it silently collapses every sample's dJ/dsigma into one number, which is then
broadcast back onto every sample's dJ/dz. Ours keeps one value per sample.
"""

import torch


def delta_J_delta_sigma(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """dJ/dsigma = 2 (sigma - y), from J = (sigma - y)^2"""
    return 2 * (y_hat - y)


def delta_sigma_delta_z(z: torch.Tensor, sigma: torch.Tensor | None = None) -> torch.Tensor:
    """dsigma/dz = sigma(z) (1 - sigma(z))

    Pass the forward pass's `sigma` to reuse it instead of computing sigmoid(z) again.
    """
    if sigma is None:
        sigma = torch.sigmoid(z)
    return sigma * (1 - sigma)


delta_sigma_delta = delta_sigma_delta_z  # the lesson's name for it


def delta_z_delta_w(x: torch.Tensor) -> torch.Tensor:
    """dz/dw = x, from z = w·x + b"""
    return x


def delta_z_delta_b() -> int:
    """dz/db = 1, from z = w·x + b

    A Python 1, as in the lesson: it multiplies any tensor without changing its dtype or device.
    """
    return 1
