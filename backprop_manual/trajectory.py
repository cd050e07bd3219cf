"""Compare two training trajectories step by step and name the first (epoch, sample, parameter) that diverges."""

from dataclasses import dataclass

import torch

from backprop_manual.tolerances import tolerances

PARAMETERS = ("w", "b")  # columns 0 and 1 of a trajectory; column 2 is J


@dataclass(frozen=True)
class Divergence:
    epoch: int
    sample: int  # position in the epoch
    parameter: str
    manual: float
    reference: float
    allowance: float

    def __str__(self) -> str:
        return (
            f"epoch {self.epoch}, sample {self.sample}, parameter {self.parameter}: manual {self.manual:.10g} vs "
            f"reference {self.reference:.10g}, |diff| {abs(self.manual - self.reference):.3g} > allowed {self.allowance:.3g}"
        )


@dataclass(frozen=True)
class TrajectoryReport:
    steps: int
    max_abs: dict[str, float]  # per parameter, over every step
    first: Divergence | None

    @property
    def ok(self) -> bool:
        return self.first is None

    def summary(self) -> str:
        diffs = ", ".join(f"max |diff| {p} {d:.3e}" for p, d in self.max_abs.items())
        verdict = "ok" if self.ok else f"MISMATCH, first at {self.first}"
        return f"trajectory, {self.steps} steps: {diffs}: {verdict}"


def compare_trajectories(manual: torch.Tensor, reference: torch.Tensor) -> TrajectoryReport:
    """manual, reference: [epochs, N, 3] of (w, b, J) after every step; w and b compared at the dtype's tolerance."""
    rtol, atol = tolerances(reference.dtype)
    m = manual.detach().to(device=reference.device, dtype=torch.float64).reshape(reference.shape)[..., :2]
    r = reference.detach().to(torch.float64)[..., :2]
    bad = ~torch.isclose(m, r, rtol=rtol, atol=atol)
    if manual.dtype != reference.dtype:
        bad |= True  # a trajectory in another dtype is a divergence from the first step
    first = None
    if bad.any():
        epoch, sample, p = (int(i) for i in bad.nonzero()[0])
        ref = float(r[epoch, sample, p])
        first = Divergence(epoch, sample, PARAMETERS[p], float(m[epoch, sample, p]), ref, atol + rtol * abs(ref))
    max_abs = {p: float((m[..., k] - r[..., k]).abs().max()) for k, p in enumerate(PARAMETERS)}
    return TrajectoryReport(int(m.shape[0] * m.shape[1]), max_abs, first)
