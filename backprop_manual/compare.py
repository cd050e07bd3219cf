"""Compare hand-derived gradients with autograd's in chain order; report the first divergence and the whole table.

Each intermediate gets its own torch.testing.assert_close verdict (one assert_close over a dict would sort the
keys and stop at the first failure); torch.isclose with the same tolerances then locates the samples.
"""

from dataclasses import dataclass

import torch

from backprop_manual.passes import CHAIN, Gradients
from backprop_manual.tolerances import tolerances

SYMBOLS = {
    "delta_J_delta_sigma": "dJ/dσ",
    "delta_J_delta_z": "dJ/dz",
    "delta_J_delta_w": "dJ/dw",
    "delta_J_delta_b": "dJ/db",
}


@dataclass(frozen=True)
class Row:
    """One intermediate: its verdict and, at its worst sample, how far manual is from autograd."""

    name: str  # the lesson's name, e.g. delta_J_delta_z
    ok: bool
    at: int  # sample position shown: the first one out of tolerance, else the one with the least headroom
    manual: float  # values at `at`
    autograd: float
    allowance: float  # atol + rtol·|autograd| at `at`
    abs_diff: float  # max |manual - autograd| over all samples
    rel_diff: float  # max |manual - autograd| / |autograd| over all samples
    problem: str  # why it is not ok, in assert_close's words; "" when ok

    @property
    def symbol(self) -> str:
        return SYMBOLS.get(self.name, self.name)


def compare_intermediate(name: str, manual: torch.Tensor, autograd: torch.Tensor) -> Row:
    """One row: assert_close decides (dtype, device, shape, values); isclose finds the samples."""
    problem = ""
    try:
        torch.testing.assert_close(manual, autograd)
    except AssertionError as e:
        problem = str(e).splitlines()[0]
    rtol, atol = tolerances(autograd.dtype)
    m = manual.detach().to(device=autograd.device, dtype=torch.float64).reshape(-1)
    a = autograd.detach().to(torch.float64).reshape(-1)
    if m.shape != a.shape:  # a collapsed batch: compare what broadcasting would give, and say so
        m = m.expand_as(a) if m.numel() == 1 else m[: a.numel()]
    diff = (m - a).abs()
    allowed = atol + rtol * a.abs()
    bad = ~torch.isclose(m, a, rtol=rtol, atol=atol) | torch.isnan(diff)
    at = int(bad.nonzero()[0]) if bad.any() else int(torch.argmax(diff - allowed))
    rel = torch.where(diff == 0, 0.0, diff / a.abs())  # 0/0 is agreement; x/0 is an infinite relative error
    return Row(
        name=name,
        ok=not problem,
        at=at,
        manual=float(m[at]),
        autograd=float(a[at]),
        allowance=float(allowed[at]),
        abs_diff=float(diff.max()),
        rel_diff=float(rel.max()),
        problem=problem,
    )


@dataclass(frozen=True)
class ChainReport:
    rows: list[Row]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    @property
    def first_divergence(self) -> Row | None:
        """The first intermediate in chain order that disagrees: the bug; the rows after it are its echoes."""
        return next((r for r in self.rows if not r.ok), None)


def compare_chain(manual: Gradients, autograd: Gradients) -> ChainReport:
    """Every intermediate of the chain, in chain order, none skipped after a failure."""
    return ChainReport([compare_intermediate(n, getattr(manual, n), getattr(autograd, n)) for n in CHAIN])
