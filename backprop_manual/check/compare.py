"""One row per gradient: manual vs autograd, checked in this order: present, shape, dtype, device, finite, values.

values, element by element (i), by the error model of check/model.py, one rule for every dtype:
    ok_i = |manual_i - autograd_i| <= allowed_i = MULTIPLIER · u_i
    u_i  = ½·ε·|autograd_i| (the rounding of autograd's result), and where that fails, autograd's own rounding
           at the point (`measure`, tier by tier: an estimate propagated through its backward, which only settles
           agreement, then Monte Carlo arithmetic on its backward), whichever is larger
NaN or inf on either side is never ok. `close` records, for information, whether torch.testing.assert_close's
default tolerance alone would pass the row; it decides nothing.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn.utils.rnn import pad_sequence

from backprop_manual.check.graph import ChainUsageError
from backprop_manual.check.model import DRAWS, MARGIN, MULTIPLIER, bound_of
from backprop_manual.check.tolerances import tolerances

GREEK = {"sigma": "σ", "y_hat": "ŷ"}
LESSON = ("sigma", "z", "w", "b")  # the lesson's neuron, z = w·x + b, σ = sigmoid(z): its rows keep its own names
LESS_ACCURATE = "less accurate"  # right in float64, but its low-precision arithmetic worse than autograd's


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def counted(n: int, noun: str) -> str:
    """'1 step', '20 steps': n and the noun, plural unless n is 1."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def all_agree(n: int) -> str:
    """'all 4 gradients agree', '1 gradient agrees'."""
    return "1 gradient agrees" if n == 1 else f"all {n} gradients agree"


def label(name: str, lesson: bool = True) -> str:
    """How a row names dJ/d(name): in the lesson's neuron the lesson's name, delta_J_delta_z; in any other chain
    (lesson=False, or a name the lesson does not have) the name as its author wrote it, h."""
    return f"delta_J_delta_{name}" if lesson and name in LESSON else name


def lesson_chain(names) -> bool:
    """The chain is the lesson's neuron, in any of its forms (per sample, in matrix form, a learner's own copy):
    every one of its names is one of sigma, z, w, b."""
    return set(names) <= set(LESSON)


def symbol(name: str) -> str:
    return f"dJ/d{GREEK.get(name, name)}"


def tensor_or_usage_error(name: str, manual, autograd: torch.Tensor) -> None:
    """A gradient the backward returned that is not a torch.Tensor (a list, a numpy array or scalar, a Python
    float or int) breaks the contract: a ChainUsageError that names it, never a row judged as a mismatch."""
    if isinstance(manual, torch.Tensor):
        return
    kind, module = type(manual), type(manual).__module__.split(".")[0]  # numpy.ndarray, not numpy's inner module
    what = kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"
    raise ChainUsageError(
        f"the backward's gradient {name!r} ({symbol(name)}) is {'an' if what[0] in 'aeiou' else 'a'} {what}, not a "
        f"torch.Tensor: return a tensor, e.g. torch.as_tensor(value, dtype=torch.{dtype_name(autograd.dtype)}, "
        f"device={str(autograd.device)!r})"
    )


@dataclass(frozen=True)
class Row:
    """One gradient's verdict and, at its worst element, how far manual is from autograd."""

    name: str  # the forward's or the parameter's name, e.g. "z"
    label: str  # the lesson's name in the lesson's neuron, delta_J_delta_z; elsewhere the name itself (label())
    symbol: str  # dJ/dz
    status: str  # "ok", "MISMATCH", "missing", "not a tensor", "shape", "dtype", "device", "not finite"
    # ("not a tensor" only from compare_tensor called alone: verify_chain refuses it, tensor_or_usage_error)
    problem: str  # why it is not ok, in words; "" when ok
    at: int  # flat position shown: the first out of its allowance, else the nearest to it (least headroom)
    index: list[int]  # `at` in autograd's shape, e.g. [3, 17]
    manual: float  # values at `at`
    autograd: float
    allowance: float  # allowed |diff| at `at`
    abs_diff: float  # max |manual - autograd|
    rel_diff: float  # max |manual - autograd| / |autograd|
    mismatched: int  # elements that fail
    numel: int
    close: bool = True  # for information: assert_close's default tolerance alone passes every element
    uncertainty: float = 0.0  # u at `at`: autograd's rounding uncertainty there (allowance = MULTIPLIER · u)
    # what u is at `at`: "rounding" (½·ε·|autograd|), "propagated" (the draws' spread computed in one pass, which
    # only ever settles agreement) or "measured" (Monte Carlo)
    rule: str = "rounding"
    headroom: float = math.inf  # min over elements of allowed / |diff|: how far the diff may grow and still pass
    # The flat positions whose values decide this row: `at` and where max |diff|, max rel and the headroom are.
    # Compared alone, any set of elements holding these gives this row (cli/streaming.py keeps only these).
    deciding: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        """Agrees: within the allowance, or right in float64 and only less accurate than autograd (chain.py)."""
        return self.status in ("ok", LESS_ACCURATE)

    @property
    def ratio(self) -> float:
        """max over elements of |diff| / allowed: 1 / headroom (0 where manual equals autograd)."""
        return 0.0 if self.headroom == math.inf else 1 / self.headroom if self.headroom > 0 else math.inf

    @property
    def diff(self) -> float:
        """|manual - autograd| at `at` (NaN where nothing was compared)."""
        return abs(self.manual - self.autograd)

    @property
    def rel(self) -> float:
        """|diff| / |autograd| at `at` (0 where they agree exactly)."""
        if self.diff == 0:
            return 0.0
        return self.diff / abs(self.autograd) if self.autograd != 0 else math.inf

    @property
    def ratio_at(self) -> float:
        """|diff| / allowed at `at`: the row's own numbers; for a row within its allowance its largest, over 1 at a
        failing row's first element (a row float64 then called right, "less accurate" or "as accurate as autograd",
        keeps that element); NaN where nothing was compared."""
        if self.diff != self.diff:
            return math.nan
        if self.diff == 0:
            return 0.0
        return self.diff / self.allowance if self.allowance > 0 else math.inf

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


def _past(diff: torch.Tensor, u: torch.Tensor, scratch: torch.Tensor) -> bool:
    """Some element has diff > MARGIN · u (both finite): the sign of diff - MARGIN·u, exact as MARGIN is a power of
    2, found by one subtraction into `scratch` and a max (a comparison, a mask and any() cost three passes)."""
    return float(torch.sub(diff, u, alpha=MARGIN, out=scratch).max()) > 0


FIRST_BLOCK = 1024


def first_argmax(x: torch.Tensor, least: bool = False) -> int:
    """int(x.argmax()) of a 1-D x (the first largest element; the first NaN where there is one), or with least=True
    int(x.argmin()), found through the extreme of each block of FIRST_BLOCK elements: torch's argmax is one element
    at a time on the CPU (0.4-0.7 ms over 262,144 float64 here, where amax takes 0.05 ms); the first block holding
    the extreme holds its first occurrence."""
    n = x.numel()
    arg = torch.argmin if least else torch.argmax
    if n <= 4 * FIRST_BLOCK:
        return int(arg(x))
    k = n // FIRST_BLOCK
    extreme = torch.amin if least else torch.amax
    blocks = extreme(x[: k * FIRST_BLOCK].view(k, FIRST_BLOCK), 1)
    if k * FIRST_BLOCK < n:
        blocks = torch.cat([blocks, extreme(x[k * FIRST_BLOCK :]).reshape(1)])
    start = int(arg(blocks)) * FIRST_BLOCK
    return start + int(arg(x[start : start + FIRST_BLOCK]))


class Buffers:
    """float64 work buffers for compare_tensor, one per role, each as long as the longest row asked so far and
    reused by the next row (compare_rows shares one set among its rows), on each device."""

    def __init__(self):
        self.store: dict[tuple[int, torch.device], torch.Tensor] = {}

    def take(self, role: int, like: torch.Tensor) -> torch.Tensor:
        """Buffer `role`'s first like.numel() elements, 1-D, on like's device; its contents are left over."""
        key, n = (role, like.device), like.numel()
        held = self.store.get(key)
        if held is None or held.numel() < n:
            held = self.store[key] = torch.empty(n, dtype=torch.float64, device=like.device)
        return held[:n]


def _identical(name: str, a64: torch.Tensor, shape: torch.Size, u: torch.Tensor) -> Row:
    """Manual equal to autograd bit for bit: every difference 0, `at` the least allowance (the smallest |autograd|);
    a64 autograd flattened (any floating dtype: its values at `at` are read as Python floats)."""
    at = first_argmax(u, least=True)
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
        MULTIPLIER * float(u[at]),
        0.0,
        0.0,
        0,
        a64.numel(),
        True,
        float(u[at]),
        "rounding",
        math.inf,
        (at,),  # every difference is 0: only the least allowance decides
    )


def describe_rule(rule: str) -> str:
    if rule == "measured":
        return f"autograd's own rounding measured there (Monte Carlo arithmetic, {DRAWS} draws of its backward)"
    if rule == "propagated":
        return "autograd's own rounding propagated through its backward (the draws' spread, computed in one pass)"
    return "½·ε·|autograd|, the rounding of autograd's own result"


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
    measure: Callable[[], torch.Tensor] | None = None,
    buffers: "Buffers | None" = None,
) -> Row:
    """manual vs autograd for dJ/d(name), in the order present, shape, dtype, device, finite, values.

    Where an element fails on u = ½·ε·|autograd| alone, `measure()` (autograd's own rounding at the point, float64,
    autograd's shape: check/model.py) is asked once, and u becomes the larger of the two. `measure()` may instead give
    its measurements tier by tier (an iterable, each tier at least the one before): the next is taken only while an
    element is still past a quarter of its allowance, so the verdict is the one the last tier would give. A tier given
    as ("propagated", s) is an estimate (check/propagated.py): u becomes the larger of u and s only if every element
    is then within a quarter of its allowance; otherwise it is set aside and the next tier decides, as if it had not
    been given. `buffers`: work buffers to reuse (compare_rows passes one set to all its rows); fresh ones if None."""
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
    if not a.numel():  # an empty gradient (a parameter of no elements): nothing to compare, nothing wrong in it
        return Row(name, label(name), symbol(name), status, problem, 0, [], 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, True,
                   0.0, "rounding", math.inf, ())  # fmt: skip
    # Each pass below writes into a buffer it owns or reuses (`buffers`, shared row after row by compare_rows): a
    # fresh float64 tensor of 10^5 elements and more costs its page faults, ~15 times the pass itself on this VM
    # (2.2 ms against 0.14 ms for 262,144 elements). |manual - autograd| in manual's float64 copy, |a| in autograd's,
    # u, and a scratch buffer for what is only reduced (the bound's sum, |diff| / u, the relative difference)
    buffers = buffers or Buffers()
    diff = buffers.take(0, a).copy_(m.reshape(-1))
    magnitude = buffers.take(1, a).copy_(a.reshape(-1))
    diff.sub_(magnitude).abs_()  # exact for float32 and 16-bit sides
    magnitude.abs_()
    u = bound_of(magnitude, a.dtype, out=buffers.take(2, a))  # rounding_bound(a)
    largest_diff = float(diff.max())  # NaN where any difference is NaN (torch.max propagates it), inf where one is
    finite = math.isfinite(largest_diff)  # NaN or inf on either side makes the difference NaN or inf
    flat_m, flat_a = m.reshape(-1), a.reshape(-1)
    if status == "ok" and largest_diff == 0:  # bit for bit autograd's (and finite): the common case, at a fraction
        return _identical(name, flat_a, a.shape, u)
    scratch = buffers.take(3, a)
    measured = propagated = None
    # Measured wherever an element is past a quarter of its allowance on the rounding bound alone (measuring can
    # only raise u), so that nothing passes by a hair on a bound that was not measured
    if status == "ok" and measure is not None and finite and _past(diff, u, scratch):
        got = measure()
        for tier in [got] if isinstance(got, torch.Tensor) else got:  # each tier at least the one before it
            kind, s = tier if isinstance(tier, tuple) else ("measured", tier)
            s = s.to(device=a.device).broadcast_to(a.shape).reshape(-1)  # float32 or float64: compared exactly
            if kind == "propagated":  # an estimate (check/propagated.py): it settles agreement or is set aside
                estimate = torch.maximum(u, s, out=buffers.take(4, a))
                if not _past(diff, estimate, scratch):
                    propagated, u = (s, u), estimate  # (s, the bound): which decides `at` is read there alone
                    break
                continue
            measured = s > u if measured is None else measured | (s > u)
            u = torch.maximum(u, s)
            if not _past(diff, u, scratch):
                break  # within a quarter everywhere: a further tier could only raise u, the verdict stands
    # |diff| / u per element: its largest is the element nearest to its allowance (u > 0: the bound's floor)
    ratio = torch.div(diff, u, out=scratch)
    least = first_argmax(ratio)
    worst = float(ratio[least])
    if finite and worst < 0.999 * MULTIPLIER:  # clear of the allowance everywhere: nothing fails
        mismatched, bad = 0, None
    else:  # the exact comparison, where it can decide (NaN is never within)
        bad = ~(diff <= MULTIPLIER * u)
        mismatched = int(bad.sum())
    rtol, atol = tolerances(a.dtype)
    if finite:  # diff <= atol + rtol·|a| everywhere, as the sign of their difference (both finite: exact)
        bound = torch.mul(magnitude, rtol, out=scratch).add_(atol)
        close_ok = float(torch.sub(diff, bound, out=scratch).max()) <= 0
        rel = torch.nan_to_num_(torch.div(diff, magnitude, out=scratch), nan=0.0, posinf=math.inf)  # 0/0 agrees
    else:
        close_ok = bool((diff <= atol + rtol * magnitude).all())
        rel = torch.where(diff == 0, 0.0, diff / magnitude)
    relative = first_argmax(rel)  # argmax returns the first extreme, as max does, and a NaN where there is one
    rel_diff = float(rel[relative])
    largest = first_argmax(diff)
    # `at`: the first element out of the allowance; else the one nearest to it (the largest |diff| / allowed), so
    # that the row's |diff|, allowed, u, rule and ratio are one element's; where every difference is 0, the least
    # allowance
    if mismatched:
        at = int(bad.nonzero()[0])
    elif worst > 0:
        at = least
    else:
        at = first_argmax(u, least=True)
    rule = "rounding"
    if measured is not None and bool(measured[at]):
        rule = "measured"
    elif propagated is not None and float(propagated[0][at]) > float(propagated[1][at]):
        rule = "propagated"
    allowed_at = MULTIPLIER * float(u[at])
    if status == "ok" and not finite:
        at = int((~torch.isfinite(diff)).nonzero()[0])
        sides = [s for s, t in (("manual", flat_m), ("autograd", flat_a)) if not math.isfinite(float(t[at]))]
        allowed_at = MULTIPLIER * float(u[at])
        status = "not finite"
        problem = f"{' and '.join(sides)} {'is' if len(sides) == 1 else 'are'} not finite there (NaN or inf)"
    elif status == "ok" and mismatched:
        status = "MISMATCH"
        problem = (
            f"|manual - autograd| {float(diff[at]):.3g} > allowed {allowed_at:.3g} = {MULTIPLIER:g} u, "
            f"u = {float(u[at]):.3g}: {describe_rule(rule)}"
        )
    # `at` (the first failing, else the least headroom, chunk by chunk the same rule), and each extreme
    deciding = tuple(sorted({at, largest, relative, least}))
    headroom = math.inf
    if not finite:  # NaN where any difference is NaN, 0 where one is infinite
        headroom = float(torch.where(diff == 0, math.inf, MULTIPLIER * u / diff).min())
    elif worst > 0:
        headroom = MULTIPLIER * float(u[least]) / float(diff[least])
    return Row(
        name=name,
        label=label(name),
        symbol=symbol(name),
        status=status,
        problem=problem,
        at=at,
        index=unravel(at, a.shape),
        manual=float(flat_m[at]),
        autograd=float(flat_a[at]),
        allowance=allowed_at,
        abs_diff=float(diff[largest]),
        rel_diff=rel_diff,
        mismatched=mismatched,
        numel=diff.numel(),
        close=close_ok,
        uncertainty=float(u[at]),
        rule=rule,
        headroom=headroom,
        deciding=deciding,
    )


# A row of at most this many elements is compared in the flat pass: there the ~45 operations a row would cost are
# the time (each ~5-10 µs on small tensors); a larger row is its own pass over memory, where the flat pass's ~25
# passes cost more than a row's own (and a bit-for-bit row's 7). Measured side by side (verify_chain, one thread):
# the elementwise chain of 64 names of 100 elements 12.4 ms row by row, 8 ms flat; of 16 names of 10^4 elements
# 5.8 ms row by row, 20 ms flat; the batch-norm MLP (26 rows of 1 to 2,048) 24 ms and 21 ms
FLAT_ELEMENTS = 1 << 11


def compare_rows(
    names: list[str],
    manual: dict,
    autograd: dict[str, torch.Tensor],
    measure: Callable[[str], Callable | None],
    estimate: Callable[[], dict[str, torch.Tensor]] | None = None,
) -> list[Row]:
    """compare_tensor for each name, the same Rows, with the small rows that agree in one flat pass over all of them.

    The rows of at most FLAT_ELEMENTS elements whose manual side is a tensor of autograd's shape, dtype and device
    (all of one dtype and device) are compared at once: both sides in one float64 matrix each, a row per name
    (padded, at most 4 times their elements), |diff| / u once, each row's extremes by one argmax. A row is settled
    there when it is bit for bit autograd's, or within MARGIN · u on the rounding bound alone, or, where
    `measure(name)` is not None, within MARGIN · u with u = max(bound, estimate()[name]) (the first tier,
    check/propagated.py); every other row, and every row that is not finite, goes to compare_tensor with
    `measure(name)`, as before. On many small rows the flat pass is a few dozen operations instead of ~45 a row."""
    flat = [n for n in names if _flat(manual.get(n), autograd[n]) and autograd[n].numel() <= FLAT_ELEMENTS]
    kinds = {(autograd[n].dtype, autograd[n].device) for n in flat}
    sizes = [autograd[n].numel() for n in flat]
    padded = len(flat) * max(sizes, default=0) <= 4 * sum(sizes) + 4096  # the matrices' padding within bounds
    one_pass = len(flat) > 1 and len(kinds) == 1 and padded
    settled = _settled(flat, manual, autograd, measure, estimate) if one_pass else {}
    buffers = Buffers()
    return [
        settled.get(n) or compare_tensor(n, manual.get(n), autograd[n], measure=measure(n), buffers=buffers)
        for n in names
    ]


def _flat(m, a: torch.Tensor) -> bool:
    return (
        isinstance(m, torch.Tensor)
        and m.is_floating_point()
        and m.shape == a.shape
        and m.dtype == a.dtype
        and m.device == a.device
        and a.numel() > 0
    )


def _padded(tensors: list[torch.Tensor], value: float = 0.0) -> torch.Tensor:
    """The tensors flattened, one row each of a [rows, longest] float64 matrix, padded with `value`."""
    rows = pad_sequence([t.detach().reshape(-1) for t in tensors], batch_first=True, padding_value=value)
    return rows.to(torch.float64)


def _settled(flat, manual, autograd, measure, estimate) -> dict[str, Row]:
    """The Rows of `flat` that one pass settles (compare_rows), by name; the others are left out. Each row of the
    pass is a row of [rows, longest] matrices (padded with 0: |diff| 0 there, never a row's first largest unless the
    whole row is 0, which is the bit-for-bit case; u there is +inf), so that each row's extremes are one argmax."""
    a0 = autograd[flat[0]]
    rows = len(flat)
    lengths = torch.tensor([autograd[n].numel() for n in flat], device=a0.device)
    a64 = _padded([autograd[n] for n in flat])
    m64 = _padded([manual[n] for n in flat])
    padding = torch.arange(a64.shape[1], device=a0.device) >= lengths[:, None]
    magnitude = a64.abs()
    u = bound_of(magnitude, a0.dtype).masked_fill_(padding, math.inf)
    diff = torch.sub(m64, a64).abs_()
    finite = [math.isfinite(d) for d in diff.amax(1).tolist()]  # amax propagates NaN; isfinite is slower
    # as compare_tensor decides it: |diff| > MARGIN · u anywhere in the row, multiplied (exact), not divided
    within = [f and not over for f, over in zip(finite, (diff > MARGIN * u).any(1).tolist(), strict=True)]
    propagated = None
    if not all(within) and estimate is not None:
        asked = [i for i, n in enumerate(flat) if finite[i] and not within[i] and measure(n) is not None]
        found = estimate() if asked else {}
        asked = [i for i in asked if found.get(flat[i]) is not None]
        if asked:
            s = torch.zeros_like(u)
            for i in asked:
                s[i, : autograd[flat[i]].numel()] = found[flat[i]].to(s).reshape(-1)
            wider = torch.maximum(u, s)
            past = (diff > MARGIN * wider).any(1).tolist()
            take = [i for i in asked if not past[i]]
            if take:
                chosen = torch.zeros(rows, 1, dtype=torch.bool, device=a0.device)
                chosen[take] = True
                propagated = chosen & (s > u)
                u = torch.where(chosen, wider, u)
                for i in take:
                    within[i] = True
    keep = [i for i in range(rows) if within[i]]
    if not keep:
        return {}
    rtol, atol = tolerances(a0.dtype)
    ratio = diff / u  # 0 in the padding (u = +inf there)
    rel = torch.nan_to_num_(diff / magnitude, nan=0.0, posinf=math.inf)  # 0/0 is agreement: 0 in the padding too
    close = (diff <= atol + rtol * magnitude).all(1).tolist()
    positions = torch.stack([ratio.argmax(1), diff.argmax(1), rel.argmax(1), u.argmin(1)], 1)  # [rows, 4]
    values = torch.stack([t.gather(1, positions) for t in (m64, a64, u, diff, rel)]).tolist()  # [5, rows, 4]
    rules = propagated.gather(1, positions[:, :1]).reshape(-1).tolist() if propagated is not None else [False] * rows
    positions = positions.tolist()
    out = {}
    for i in keep:
        name, a = flat[i], autograd[flat[i]]
        least, largest, relative, smallest_u = positions[i]
        m_, a_, u_, d_, _ = (v[i][0] for v in values)  # at `least`
        if values[3][i][1] == 0:  # every difference 0: bit for bit autograd's, `at` the least allowance
            out[name] = _identical_row(name, a.shape, smallest_u, values[1][i][3], values[2][i][3], a.numel())
            continue
        out[name] = Row(
            name=name,
            label=label(name),
            symbol=symbol(name),
            status="ok",
            problem="",
            at=least,
            index=unravel(least, a.shape),
            manual=m_,
            autograd=a_,
            allowance=MULTIPLIER * u_,
            abs_diff=values[3][i][1],
            rel_diff=values[4][i][2],
            mismatched=0,
            numel=a.numel(),
            close=close[i],
            uncertainty=u_,
            rule="propagated" if rules[i] else "rounding",
            headroom=MULTIPLIER * u_ / d_,
            deciding=tuple(sorted({least, largest, relative})),
        )
    return out


def _identical_row(name: str, shape: torch.Size, at: int, a: float, u: float, numel: int) -> Row:
    """_identical's Row, from its numbers: every difference 0, `at` the least allowance."""
    return Row(name, label(name), symbol(name), "ok", "", at, unravel(at, shape), a, a, MULTIPLIER * u, 0.0, 0.0, 0,
               numel, True, u, "rounding", math.inf, (at,))  # fmt: skip
