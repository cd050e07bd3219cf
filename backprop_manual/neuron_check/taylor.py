"""The Taylor remainder test: a gradient check with no finite-difference step to tune.

r(eps) = |J(p + eps·h) - J(p) - eps · <dJ/dp, h>|
A correct dJ/dp leaves r(eps) = eps^2 · |h' H h| / 2 + O(eps^3): halving eps divides r by 4, rate 2.
A wrong one leaves eps · |<dJ/dp_true - dJ/dp, h>|: halving eps divides r by 2, rate 1.
rate_k = log2(r(eps_k) / r(eps_k / 2)), over a few halvings of eps.

J here is the package's own forward (the sum of the samples' costs) as a function of one node p in (sigma, z, w, b),
so the test checks that the hand-derived backward is the derivative of the forward it belongs to.
"""

import math
from collections.abc import Callable

import torch

from backprop_manual.neuron.forward import activation_fn, cost_fn, linear_fn
from backprop_manual.neuron.passes import Gradients

EPS0, HALVINGS = 2.0**-6, 6  # eps = 2^-6 ... 2^-12: r stays far above J's rounding noise (~1e-13 in float64)


def cost_of(node: str, w: torch.Tensor, x: torch.Tensor, b: torch.Tensor, y: torch.Tensor) -> Callable:
    """J as a function of one node's value, the others held at (w, x, b, y): sum over samples of (sigma - y)^2."""
    z = linear_fn(w, x, b)
    sigma = activation_fn(z)
    return {
        "delta_J_delta_sigma": lambda s: cost_fn(s, y).sum(),
        "delta_J_delta_z": lambda v: cost_fn(activation_fn(v), y).sum(),
        "delta_J_delta_w": lambda v: cost_fn(activation_fn(linear_fn(v, x, b)), y).sum(),
        "delta_J_delta_b": lambda v: cost_fn(activation_fn(linear_fn(w, x, v)), y).sum(),
    }[node], {"delta_J_delta_sigma": sigma, "delta_J_delta_z": z, "delta_J_delta_w": w, "delta_J_delta_b": b}[node]


def taylor_remainders(
    J: Callable[[torch.Tensor], torch.Tensor],
    p: torch.Tensor,
    slope: float,
    h: torch.Tensor,
    eps: list[float],
) -> list[float]:
    """r(eps) = |J(p + eps·h) - J(p) - eps·slope| for each eps, where slope = <dJ/dp, h> is the claimed derivative."""
    J0 = float(J(p))
    return [abs(float(J(p + e * h)) - J0 - e * slope) for e in eps]


def convergence_rates(remainders: list[float]) -> list[float]:
    """log2(r(eps_k) / r(eps_k / 2)) for consecutive halvings: 2 for a correct gradient, 1 for a wrong one."""
    return [math.log2(r0 / r1) for r0, r1 in zip(remainders, remainders[1:])]


def taylor_rates(
    node: str,
    grads: Gradients,
    w: torch.Tensor,
    x: torch.Tensor,
    b: torch.Tensor,
    y: torch.Tensor,
    *,
    generator: torch.Generator,
) -> list[float]:
    """The HALVINGS rates for `grads`' dJ/d(node) along a random direction h with max |h| = 1 (one entry per sample
    for sigma and z, ±1 for w and b, whose dJ/dp is the sum of the samples' dJ/dw or dJ/db). A random h leaves the
    error <dJ/dp_true - dJ/dp, h> nonzero with probability 1; which h does not matter."""
    J, p = cost_of(node, w, x, b, y)
    h = torch.randn(p.shape, generator=generator)  # float32 is direction enough: p + eps·h promotes to p's dtype
    h = h / h.abs().max()
    slope = float((getattr(grads, node) * h).sum())
    eps = [EPS0 * 2.0**-k for k in range(HALVINGS + 1)]
    return convergence_rates(taylor_remainders(J, p, slope, h, eps))
