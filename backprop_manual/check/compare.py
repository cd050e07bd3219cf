"""One row per gradient: manual vs autograd, checked in this order: present, shape, dtype, device, finite, values.

values, element by element (i), with (rtol, atol) and the ULP budget B of autograd's dtype (tolerances.py):
    allowed_i = atol + rtol·|autograd_i| + floor     (assert_close's default criterion, plus the rounding floor)
    ok_i      = |manual_i - autograd_i| <= allowed_i  and  (ulp_distance_i <= B  or  |diff_i| <= floor)
floor = 0 unless the caller measured one (check/floor.py): where a gradient cancels out (zero in exact arithmetic,
~1e-18 of rounding noise in float64), the element-wise ULP budget alone would cry wolf.
NaN or inf on either side is never ok.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch

from backprop_manual.check.floor import normwise_floor
from backprop_manual.check.tolerances import tolerances, ulp_budget, ulp_distance

GREEK = {"sigma": "σ", "y_hat": "ŷ"}


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def label(name: str) -> str:
    """The lesson's name of dJ/d(name): delta_J_delta_z."""
    return f"delta_J_delta_{name}"


def symbol(name: str) -> str:
    return f"dJ/d{GREEK.get(name, name)}"


@dataclass(frozen=True)
class Row:
    """One gradient's verdict and, at its worst element, how far manual is from autograd."""

    name: str  # the forward's or the parameter's name, e.g. "z"
    label: str  # the lesson's name, delta_J_delta_z
    symbol: str  # dJ/dz
    status: str  # "ok", "MISMATCH", "missing", "not a tensor", "shape", "dtype", "device", "not finite"
    problem: str  # why it is not ok, in words; "" when ok
    at: int  # flat position shown: the first out of tolerance, else the first over budget, else least headroom
    index: list[int]  # `at` in autograd's shape, e.g. [3, 17]
    manual: float  # values at `at`
    autograd: float
    allowance: float  # allowed |diff| at `at`
    abs_diff: float  # max |manual - autograd|
    rel_diff: float  # max |manual - autograd| / |autograd|
    mismatched: int  # elements that fail
    numel: int
    close: bool = True  # assert_close's own criterion (no floor, no ULP budget) holds everywhere
    max_ulp: float = 0.0
    ulp_budget: float = 0.0
    headroom: float = math.inf  # min over elements of allowed / |diff|: how far the diff may grow and still pass
    floor: float = 0.0  # the rounding floor allowed on top (check/floor.py), 0 when none was needed
    # The flat positions whose values decide this row: `at` and where max |diff|, max rel, max ULP and the headroom
    # are. Compared alone, any set of elements holding these gives this row (cli/streaming.py keeps only these).
    deciding: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def where(self) -> str:
        return f"[{', '.join(map(str, self.index))}]" if self.index else "[]"


def _shape(t: torch.Tensor) -> str:
    return f"[{', '.join(map(str, t.shape))}]"


def _unavailable(name: str, status: str, problem: str, numel: int) -> Row:
    nan = math.nan
    return Row(name, label(name), symbol(name), status, problem, 0, [], nan, nan, nan, nan, nan, numel, numel, False)


def unravel(at: int, shape: torch.Size) -> list[int]:
    """The flat position `at` as an index into `shape`: [3, 17]."""
    index = []
    for size in reversed(shape):
        at, i = divmod(at, size)
        index.append(i)
    return index[::-1]


def over_budget(
    m64: torch.Tensor, a: torch.Tensor, diff: torch.Tensor, budget: float
) -> tuple[torch.Tensor, float, int]:
    """(elements over the ULP budget, the largest ULP distance, where it is), counting ULPs exactly only where needed.

    |m - a| <= budget · eps/2 · min(|m|, |a|) already proves ulp_distance <= budget: every float between them lies
    at a magnitude >= min(|m|, |a|), where the spacing is at least eps/2 times it. Only the other elements (few,
    usually) are counted one by one; when none of them is over the budget, all are, for the exact largest.
    """
    eps = torch.finfo(a.dtype).eps
    cleared = diff <= (budget * eps / 2) * torch.minimum(m64.abs(), a.abs().to(torch.float64))
    suspects = (~cleared).nonzero().reshape(-1)
    over = torch.zeros_like(cleared)
    if suspects.numel():
        ulps = ulp_distance(m64[suspects], a[suspects])  # in autograd's dtype: manual is rounded to it first
        over[suspects] = ulps > budget
        if float(ulps.max()) > budget:
            return over, float(ulps.max()), int(suspects[torch.argmax(ulps)])
    if not a.numel():
        return over, 0.0, 0
    ulps = ulp_distance(m64, a)
    return over, float(ulps.max()), int(torch.argmax(ulps))


def _identical(name: str, a64: torch.Tensor, shape: torch.Size, atol: float, rtol: float, budget: float) -> Row:
    """Manual equal to autograd bit for bit: every difference 0, `at` the least allowance (the smallest |autograd|)."""
    at = int(a64.abs().argmin())
    return Row(
        name,
        label(name),
        symbol(name),
        "ok",
        "",
        at,
        unravel(at, shape),
        float(a64[at]),
        float(a64[at]),
        atol + rtol * abs(float(a64[at])),
        0.0,
        0.0,
        0,
        a64.numel(),
        True,
        0.0,
        budget,
        math.inf,
        0.0,
        (at,),  # every difference is 0: only the least allowance decides
    )


def _shape_hint(manual: torch.Tensor, autograd: torch.Tensor) -> str:
    if manual.ndim == 2 and tuple(manual.shape) == tuple(autograd.shape)[::-1]:
        return " (transposed?)"
    if manual.numel() == 1 < autograd.numel():
        return " (summed over the batch?)"
    return ""


def compare_tensor(
    name: str,
    manual,
    autograd: torch.Tensor,
    *,
    per_sample: bool = False,
    floor: Callable[[], torch.Tensor] | None = None,
) -> Row:
    """manual vs autograd for dJ/d(name), in the order present, shape, dtype, device, finite, values.

    Where the values fail on the element-wise criterion alone, the rounding floors are tried (check/floor.py):
    first the tensor's own norm-wise one, then `floor()`, the magnitudes that flow into it, measured on demand."""
    a = autograd.detach()
    if manual is None:
        return _unavailable(name, "missing", f"the backward returned no gradient for {name!r}", a.numel())
    if not isinstance(manual, torch.Tensor):
        return _unavailable(
            name, "not a tensor", f"the backward returned a {type(manual).__name__}, not a tensor", a.numel()
        )
    m = manual.detach()
    status, problem = "ok", ""
    if m.shape != a.shape:
        status, problem = "shape", f"manual has shape {_shape(m)}, autograd {_shape(a)}{_shape_hint(m, a)}"
        try:
            m = m.to(a.device).broadcast_to(a.shape)  # still measured, where broadcasting makes sense
        except RuntimeError:
            return _unavailable(name, status, problem, a.numel())
    elif m.dtype != a.dtype:
        status, problem = "dtype", f"manual is {dtype_name(m.dtype)}, autograd {dtype_name(a.dtype)}"
    elif m.device != a.device:
        status, problem = "device", f"manual is on {m.device}, autograd on {a.device}"
    if not m.is_floating_point():
        return _unavailable(name, "dtype", f"manual is {dtype_name(m.dtype)}: a gradient is floating point", a.numel())
    rtol, atol = tolerances(a.dtype)
    budget = ulp_budget(a.dtype)
    m64 = m.to(device=a.device, dtype=torch.float64).reshape(-1)
    a64 = a.to(torch.float64).reshape(-1)
    if status == "ok" and a.numel() and torch.equal(m64, a64) and bool(torch.isfinite(a64).all()):
        return _identical(name, a64, a.shape, atol, rtol, budget)  # the common case, at a fraction of the cost
    diff = (m64 - a64).abs()
    absa = a64.abs()
    close = atol + rtol * absa
    over, max_ulp, most_ulps = over_budget(m64, a.reshape(-1), diff, budget)
    floor64 = torch.zeros((), dtype=torch.float64, device=a.device)
    bad = ~(diff <= close)  # NaN is never close
    close_ok = not bool(bad.any())
    for measure in (partial(normwise_floor, a, per_sample), floor):
        if status != "ok" or measure is None or not bool((bad | over).any()) or not bool(torch.isfinite(diff).all()):
            break
        measured = measure().to(device=a.device, dtype=torch.float64).broadcast_to(a.shape).reshape(-1)
        floor64 = torch.maximum(floor64, measured)
        excused = diff <= floor64
        bad, over = bad & ~excused, over & ~excused
    allowed = close + floor64
    failing = bad | over
    mismatched = int(failing.sum())
    if bool(bad.any()):  # the first out of tolerance, else the first over the ULP budget, else the least headroom
        at = int(bad.nonzero()[0])
    elif mismatched:
        at = int(failing.nonzero()[0])
    else:
        at = int(torch.argmax(diff - allowed)) if diff.numel() else 0
    finite = torch.isfinite(diff)  # NaN or inf on either side makes the difference NaN or inf
    if status == "ok" and not bool(finite.all()):
        at = int((~finite).nonzero()[0])
        sides = [s for s, t in (("manual", m64), ("autograd", a64)) if not math.isfinite(float(t[at]))]
        status = "not finite"
        problem = f"{' and '.join(sides)} {'is' if len(sides) == 1 else 'are'} not finite there (NaN or inf)"
    elif status == "ok" and mismatched:
        status = "MISMATCH"
        problem = (
            "out of tolerance: |manual - autograd| > atol + rtol·|autograd|"
            if bool(bad.any())
            else f"up to {max_ulp:.3g} ULP apart, over the {dtype_name(a.dtype)} budget of {budget:g} ULP: "
            "assert_close alone passes it"
        )
    rel = torch.where(diff == 0, 0.0, diff / absa)  # 0/0 is agreement; x/0 an infinite relative error
    headroom = allowed / diff  # |diff| 0: inf (allowed >= atol > 0)
    # `at` (the first failing, else the least headroom, chunk by chunk the same rule), and each extreme below:
    # argmax and argmin return the first extreme, as max and min do, and a NaN where there is one
    extremes = [int(torch.argmax(diff)), int(torch.argmax(rel)), int(torch.argmin(headroom))] if diff.numel() else []
    deciding = tuple(sorted({at, most_ulps, *extremes})) if diff.numel() else ()
    return Row(
        name=name,
        label=label(name),
        symbol=symbol(name),
        status=status,
        problem=problem,
        at=at,
        index=unravel(at, a.shape),
        manual=float(m64[at]),
        autograd=float(a64[at]),
        allowance=float(allowed.broadcast_to(diff.shape)[at]),
        abs_diff=float(diff.max()),
        rel_diff=float(rel.max()),
        mismatched=mismatched,
        numel=diff.numel(),
        close=close_ok,
        max_ulp=max_ulp,
        ulp_budget=budget,
        headroom=float(headroom.min()),
        floor=float(floor64.broadcast_to(diff.shape)[at]),
        deciding=deciding,
    )
