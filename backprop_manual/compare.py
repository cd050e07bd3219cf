"""Compare hand-derived gradients with autograd's in chain order; report the first divergence and the whole table.

Each intermediate gets its own torch.testing.assert_close verdict (one assert_close over a dict would sort the
keys and stop at the first failure); torch.isclose with the same tolerances then locates the samples. On top of
it, a ULP budget per dtype (tolerances.ULP_BUDGETS): a row is ok when assert_close passes AND
max ulp_distance(manual, autograd) <= budget.
"""

import math
from dataclasses import dataclass

import torch

from backprop_manual.passes import CHAIN, Gradients
from backprop_manual.tolerances import tolerances, ulp_budget
from backprop_manual.ulp import ulp_distance

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
    ok: bool  # close and max_ulp <= ulp_budget
    at: int  # sample shown: the first out of tolerance, else the first over the ULP budget, else least headroom
    manual: float  # values at `at`
    autograd: float
    allowance: float  # atol + rtol·|autograd| at `at`
    abs_diff: float  # max |manual - autograd| over all samples
    rel_diff: float  # max |manual - autograd| / |autograd| over all samples
    problem: str  # why it is not ok, in assert_close's words or the ULP budget's; "" when ok
    close: bool = True  # assert_close's own verdict
    max_ulp: float = 0.0  # max ulp_distance(manual, autograd) over all samples, in the dtype's ULPs
    ulp_budget: float = 0.0  # the dtype's budget (tolerances.ULP_BUDGETS)
    headroom: float = math.inf  # min over samples of allowance / |diff|: how far the diff may grow and pass

    @property
    def symbol(self) -> str:
        return SYMBOLS.get(self.name, self.name)


def assert_close_problem(manual: torch.Tensor, autograd: torch.Tensor) -> str:
    """The first line of torch.testing.assert_close's complaint (dtype, device, shape or values), "" if it passes."""
    try:
        torch.testing.assert_close(manual, autograd)
    except AssertionError as e:
        return str(e).splitlines()[0]
    return ""


def compare_intermediate(name: str, manual: torch.Tensor, autograd: torch.Tensor) -> Row:
    """One row: assert_close decides (dtype, device, shape, values), then the ULP budget; isclose finds the samples."""
    close_problem = assert_close_problem(manual, autograd)
    rtol, atol = tolerances(autograd.dtype)
    budget = ulp_budget(autograd.dtype)
    m = manual.detach().to(device=autograd.device, dtype=torch.float64).reshape(-1)
    a = autograd.detach().to(torch.float64).reshape(-1)
    if m.numel() == 1:  # a collapsed batch (the lesson's torch.sum): compare what broadcasting would give
        m = m.expand_as(a)
    diff = (m - a).abs()
    allowed = atol + rtol * a.abs()
    ulps = ulp_distance(m, autograd.detach().reshape(-1))  # in autograd's dtype: m is rounded to it first
    bad = ~torch.isclose(m, a, rtol=rtol, atol=atol)  # NaN is never close
    over = ulps > budget
    if bad.any():
        at = int(bad.nonzero()[0])
    elif over.any():
        at = int(over.nonzero()[0])
    else:
        at = int(torch.argmax(diff - allowed))
    problem = close_problem or (
        f"up to {float(ulps.max()):.3g} ULP apart, over the {str(autograd.dtype).removeprefix('torch.')} budget of "
        f"{budget:g} ULP: assert_close alone passes it"
        if over.any()
        else ""
    )
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
        close=not close_problem,
        max_ulp=float(ulps.max()),
        ulp_budget=budget,
        headroom=float(torch.where(diff == 0, math.inf, allowed / diff).min()),
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
