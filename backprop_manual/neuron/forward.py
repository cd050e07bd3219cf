"""The lesson's hypothesis function and cost, one sample (or one independent sample per element)."""

import torch


def linear_fn(w: torch.Tensor, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """z = w·x + b"""
    return w * x + b


def activation_fn(z: torch.Tensor) -> torch.Tensor:
    """sigma = sigmoid(z) = 1 / (1 + e^(-z))"""
    return torch.sigmoid(z)


def cost_fn(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """J = (y_hat - y)^2, per sample: a batch gives one J per sample, never their sum."""
    return (y_hat - y) ** 2
