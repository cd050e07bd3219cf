"""A third witness for any chain, independent of the hand derivation and of autograd: finite differences.

For each parameter p, along a random direction u (seeded, unit length), in float64 with Richardson extrapolation:
    D(h)   = (J(p + h·u) - J(p - h·u)) / 2h          (J summed over the samples in per-sample mode)
    dJ/dp·u ≈ (4 D(h/2) - D(h)) / 3,   error ≈ |D(h/2) - D(h)|
and each side's own directional derivative, sum(dJ/dp ∘ u), is compared with it. Needs a forward that runs in
float64 (one that makes its new tensors from its inputs' dtype, as it should).
"""

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from backprop_manual.check.graph import LOSS

# Why 4: the side the witness sides with must be clearly nearer, not by a rounding.
SIDING = 4.0
STEP = 2.0**-14  # h, relative to max(1, max|p|): central differences' error h^2·J''' against rounding eps/h


@dataclass(frozen=True)
class Witness:
    parameter: str
    finite_difference: float  # dJ/dp·u
    error: float  # its own error estimate
    manual: float  # sum(manual dJ/dp ∘ u)
    autograd: float

    @property
    def off_manual(self) -> float:
        return abs(self.manual - self.finite_difference)

    @property
    def off_autograd(self) -> float:
        return abs(self.autograd - self.finite_difference)

    @property
    def wrong(self) -> str:
        """ "manual", "autograd" or "undecided": the side the witness says is wrong."""
        noise = self.error
        if self.off_manual > max(SIDING * self.off_autograd, noise):
            return "manual"
        if self.off_autograd > max(SIDING * self.off_manual, noise):
            return "autograd"
        return "undecided"


def _in_float64(value):
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.detach().to(torch.float64)
    return value


def finite_difference_witness(
    forward: Callable, params: Mapping[str, torch.Tensor], inputs: Mapping, name: str, manual, autograd
) -> Witness:
    """The witness at parameter `name`; manual, autograd: the two sides' dJ/d(name) ([N, *shape] per sample)."""
    p64 = {k: _in_float64(v) for k, v in params.items()}
    x64 = {k: _in_float64(v) for k, v in inputs.items()}
    p = p64[name]
    gen = torch.Generator(device=p.device).manual_seed(1)
    u = torch.randn(p.shape, generator=gen, dtype=torch.float64, device=p.device)
    u = u / u.norm()
    h = STEP * max(1.0, float(p.abs().max()) if p.numel() else 1.0)

    def J(step: float) -> float:
        with torch.no_grad():
            return float(forward(**{**p64, name: p + step * u}, **x64)[LOSS].double().sum())

    def D(step: float) -> float:
        return (J(step) - J(-step)) / (2 * step)

    d_h, d_half = D(h), D(h / 2)

    def along(g) -> float:
        if not isinstance(g, torch.Tensor):
            return math.nan
        g = g.detach().to(device=p.device, dtype=torch.float64)
        if g.shape != p.shape:  # per sample: [N, *shape], the samples' J summed
            g = g.reshape(-1, *p.shape).sum(0) if g.numel() % max(p.numel(), 1) == 0 else g.new_full(p.shape, math.nan)
        return float((g * u).sum())

    return Witness(name, (4 * d_half - d_h) / 3, abs(d_half - d_h), along(manual), along(autograd))
