"""verify_function: a custom torch.autograd.Function's backward (or any fn with its own backward) against autograd
through `reference`, the same math in torch's own ops, on verify_chain.

    outputs      fn(**kw) against reference(**kw), each output first: a wrong forward is reported as such
    J            = Σ_outputs <out, v>, v a random cotangent per output (several draws, never all ones)
    manual       dJ/d(input) = vᵀ ∂fn/∂input, from fn's own backward (torch.autograd.grad through fn)
    autograd     dJ/d(input) through reference: verify_chain's oracle, rows by keyword in chain order out -> x, w
    in place     fn's backward must leave its incoming gradient v as it was, and a second backward over the same
                 graph must give the first one's gradients: a backward that changes v or a saved tensor does not
    layouts      the tensor arguments as given, then non-contiguous copies of them (same values, other strides)
    float64      in bfloat16 and float16, all of the above again on the inputs upcast to float64 (`mathematics`):
                 a slip inside 16 bits' rounding is seen there, "wrong as mathematics"
Every floating-point tensor keyword is an input whose gradient is checked; other keywords (an eps, an integer
tensor) are passed through untouched.
"""

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import torch

from backprop_manual.check.chain import ChainReport, verify_chain
from backprop_manual.check.compare import Row, compare_tensor
from backprop_manual.check.graph import LOSS, ChainUsageError
from backprop_manual.check.model import forward_spread


def outputs(result) -> dict[str, torch.Tensor]:
    """fn's or reference's result by name: one tensor "out", a tuple "out0", "out1", ..., a dict its own keys."""
    if isinstance(result, torch.Tensor):
        return {"out": result}
    if isinstance(result, Mapping):
        named = dict(result)
    elif isinstance(result, tuple | list):
        named = {f"out{i}": t for i, t in enumerate(result)}
    else:
        raise ChainUsageError(f"fn and reference must return a tensor, a tuple or a dict of them, not {type(result)}")
    named = {k: t for k, t in named.items() if isinstance(t, torch.Tensor) and t.is_floating_point()}
    if not named:
        raise ChainUsageError("fn and reference return no floating-point tensor: there is no gradient to check")
    return named


def non_contiguous(t: torch.Tensor) -> torch.Tensor:
    """t's values in another layout: its last two axes swapped in memory (what a .T or .transpose leaves), a 1-d t
    every other element of a buffer twice its size (what a slice [::2] leaves)."""
    if t.ndim >= 2 and t.shape[-1] > 1 and t.shape[-2] > 1:
        return t.transpose(-1, -2).contiguous().transpose(-1, -2)
    if t.numel() < 2:
        return t
    return torch.stack([t, t], dim=-1)[..., 0]


def _copy(t: torch.Tensor) -> torch.Tensor:
    """t's values in new memory with t's own strides (clone() makes a non-contiguous slice contiguous)."""
    copy = torch.empty_strided(t.shape, t.stride(), dtype=t.dtype, device=t.device)
    return copy.copy_(t.detach())


def _forward_row(name: str, got: torch.Tensor, expected: torch.Tensor, measure=None) -> Row:
    """fn's output against reference's, by the error model: u from reference's own rounding (RandomRounding on its
    forward, check/model.py) where the rounding bound alone is not enough."""
    row = compare_tensor(name, got, expected, measure=measure)
    problem = (
        row.problem.replace("manual", "fn").replace("autograd", "reference").replace("its backward", "its forward")
    )
    return replace(row, label=f"{name} (forward)", symbol="fn(...)", problem=problem)


def _lazy(compute):
    """compute(), once, when first asked."""
    done: list = []

    def get():
        if not done:
            done.append(compute())
        return done[0]

    return get


def _problem_row(name: str, t: torch.Tensor, status: str, problem: str) -> Row:
    """A row for what no comparison of values shows (a backward that changes a tensor in place, a layout it fails
    on): the tensor's own row, its status and problem replaced."""
    return replace(compare_tensor(name, t, t), label=f"{name} ({status})", status=status, problem=problem)


@dataclass
class FunctionReport:
    forward: list[Row]  # fn's outputs against reference's, per layout
    problems: list[Row]  # what fn's backward changed in place that it must not; a layout fn fails on
    runs: list[tuple[str, ChainReport]]  # ("contiguous, draw 0", its verify_chain report), ...
    # bfloat16 and float16: the same checks on the inputs upcast to float64, where a slip inside 16 bits' rounding
    # shows (fn's gradients are its own, computed once, so verify_chain cannot re-run them in float64 itself)
    mathematics: "FunctionReport | None" = None
    notes: list[str] = field(default_factory=list)  # what the run noticed beside the rows

    @property
    def rows(self) -> list[Row]:
        return [*self.forward, *self.problems, *(r for _, report in self.runs for r in report.rows)]

    @property
    def ok(self) -> bool:
        own = all(r.ok for r in self.forward + self.problems) and all(report.ok for _, report in self.runs)
        return own and (self.mathematics is None or self.mathematics.ok)

    @property
    def first_divergence(self) -> Row | None:
        """A wrong forward first, then a backward that changes what it must not, then the first wrong gradient; in
        16 bits, where all of them hold, the first that float64 sees on the same values ("wrong as mathematics")."""
        own = next((r for r in self.rows if not r.ok), None)
        if own is not None or self.mathematics is None:
            return own
        first = self.mathematics.first_divergence
        if first is None:
            return None
        return replace(first, problem=f"wrong as mathematics: in float64 on the same values upcast, {first.problem}")

    def assert_ok(self) -> None:
        __tracebackhide__ = True  # pytest shows the caller's line
        if not self.ok:
            raise AssertionError(self.message())

    def table(self) -> str:
        """The forward's and the in-place checks' status lines, then the first failing run's table (else the first)."""
        lines = [
            f"  {r.label}: {r.status}{': ' + r.problem if r.problem else ''}" for r in self.forward + self.problems
        ]
        what, report = next(((w, r) for w, r in self.runs if not r.ok), self.runs[0])
        return "\n".join([*lines, f"  {what}:", report.table()])

    def message(self) -> str:
        if (
            self.mathematics is not None
            and not self.mathematics.ok
            and next((r for r in self.rows if not r.ok), None) is None
        ):
            return (
                "fn is wrong as mathematics: within its own dtype's rounding, but in float64 on the same values "
                f"upcast:\n{self.mathematics.message()}"
            )
        first = self.first_divergence
        runs = "".join(
            f"  {what}: {'ok' if r.ok else r.first_divergence.name + ' diverges'}\n" for what, r in self.runs
        )
        forward = "".join(
            f"  forward {r.name}: {r.status}{': ' + r.problem if r.problem else ''}\n" for r in self.forward
        )
        if first is None:
            checked = " (and in float64 on the same values upcast)" if self.mathematics is not None else ""
            notes = "".join(f"  note: {n}\n" for n in self.notes)
            return f"fn agrees with reference: every output and every input's gradient{checked}\n{forward}{runs}{notes}"
        if any(first is r for r in self.forward):
            head = f"fn's forward output {first.name} differs from reference's: {first.problem}"
            detail = (
                f"  at {first.where}: fn {first.manual:.8g} vs reference {first.autograd:.8g}, "
                f"|diff| {abs(first.manual - first.autograd):.3g}, allowed {first.allowance:.3g}\n"
            )
        elif any(first is r for r in self.problems):
            head, detail = f"{first.label}: {first.problem}", ""
        else:
            what, report = next((w, r) for w, r in self.runs if not r.ok)
            row = report.first_divergence
            if row is not None and row.status == "not finite" and math.isfinite(row.manual):
                # the reference's own gradient overflowed (float16's range, say): fn's backward is not shown wrong
                head = f"not verified ({what}): reference's gradient is not finite where fn's is: {report.message()}"
            else:
                head = f"fn's backward is wrong ({what}): {report.message()}"
            detail = ""
        notes = "".join(f"  note: {n}\n" for n in self.notes)
        return f"{head}\n{detail}{forward}{runs}{notes}".rstrip("\n")


def _grads(fn: Callable, given: dict, others: dict, cotangents: dict):
    """fn's own backward, twice over one graph: (fn's outputs, the first backward's gradients, the second's or None,
    the incoming gradients as the first backward left them, what the second backward raised or None)."""
    with torch.enable_grad():
        leaves = {k: _copy(t).requires_grad_(True) for k, t in given.items()}  # fn may change them: not the caller's
        outs = outputs(fn(**leaves, **others))
        if set(outs) != set(cotangents):
            raise ChainUsageError(f"fn returns {sorted(outs)}, reference {sorted(cotangents)}: they must be the same")
        names = list(outs)
        constant = [n for n in names if not outs[n].requires_grad]
        if constant:
            raise ChainUsageError(f"fn's output {', '.join(constant)} does not require grad: fn has no backward for it")

        def backward(grad_outputs: list[torch.Tensor]) -> dict[str, torch.Tensor]:
            got = torch.autograd.grad(
                [outs[n] for n in names], list(leaves.values()), grad_outputs, retain_graph=True, allow_unused=True
            )
            return {k: torch.zeros_like(t) if g is None else g for (k, t), g in zip(leaves.items(), got, strict=True)}

        incoming = [cotangents[n].clone() for n in names]
        first = backward(incoming)
        try:
            second, raised = backward([cotangents[n].clone() for n in names]), None
        except RuntimeError as e:  # a tensor saved with save_for_backward changed in place: autograd's own check
            second, raised = None, e
    left = dict(zip(names, incoming, strict=True))
    return {n: t.detach() for n, t in outs.items()}, first, second, left, raised


def _in_place(expected: dict, v: dict, first: dict, second: dict | None, left: dict, raised) -> list[Row]:
    """What fn's backward changed that it must not: its incoming gradient, or (a second backward tells) a tensor
    it saved."""
    rows = [
        _problem_row(
            n,
            left[n],
            "in place",
            f"fn's backward changed its incoming gradient dJ/d{n} in place: autograd "
            f"hands that tensor to every consumer of {n}, and the others then get a wrong gradient",
        )
        for n in expected
        if not torch.equal(left[n], v[n])
    ]
    if raised is not None:
        name = next(iter(first))
        why = f"{type(raised).__name__}: {str(raised).splitlines()[0][:200]}"
        rows.append(
            _problem_row(
                name,
                first[name],
                "in place",
                "a second backward over the same forward raised: "
                f"fn's backward changed a tensor it saved for backward in place ({why})",
            )
        )
        return rows
    for k in first:
        twice = compare_tensor(k, second[k], first[k])
        if not twice.ok:
            rows.append(
                replace(
                    twice,
                    label=f"{k} (in place)",
                    status="in place",
                    problem=(
                        f"a second backward over the same forward gives another dJ/d{k} ({twice.problem}): "
                        "fn's backward changes a tensor it saved, or its incoming gradient, in place"
                    ),
                )
            )
    return rows


def _against_reference(reference: Callable, given: dict, others: dict, v: dict, manual: dict) -> ChainReport:
    """verify_chain with J = Σ <reference's output, v>; the manual side's dJ/d(output) is v itself."""

    def forward(**kw):
        outs = outputs(reference(**kw))
        return {**outs, LOSS: sum((o * v[n].to(o.dtype)).sum() for n, o in outs.items())}

    def backward(fwd, **kw):
        return {**{n: v[n] for n in fwd if n != LOSS}, **manual}

    # fn's gradients are computed once, in the run's dtype: its mathematics is checked by verify_function itself,
    # on the inputs upcast (_in_float64), not by a float64 re-run of this chain that could not follow them
    return verify_chain(forward, backward, given, others, mathematics=False)


def verify_function(fn: Callable, reference: Callable, *, draws: int = 3, seed: int = 0, **kwargs) -> FunctionReport:
    """fn's forward and its own backward against reference's forward and autograd through it.

    For each layout (as given; non-contiguous) and each of `draws` random cotangents v (seeded by `seed`):
        outputs:   fn(**kwargs) against reference(**kwargs), per output
        gradients: dJ/d(input) of J = Σ <out, v>, fn's backward vs autograd through reference (verify_chain)
        in place:  v unchanged by fn's backward; a second backward on the same graph gives the same gradients
    In bfloat16 and float16, all of it again on the inputs upcast to float64: the report's `mathematics` (None, with
    a note, where fn cannot run there or does not follow its inputs to float64).
    """
    if draws < 1:
        raise ChainUsageError(f"draws must be at least 1, not {draws}")
    params = {k: v for k, v in kwargs.items() if isinstance(v, torch.Tensor) and v.is_floating_point()}
    others = {k: v for k, v in kwargs.items() if k not in params}
    if not params:
        raise ChainUsageError("verify_function needs at least one floating-point tensor keyword argument")
    layouts = {"contiguous": params}
    if any(t.numel() > 1 for t in params.values()):
        layouts["non-contiguous"] = {k: non_contiguous(t) for k, t in params.items()}
    report = FunctionReport([], [], [])
    generator = torch.Generator().manual_seed(seed)
    for layout, given in layouts.items():
        with torch.no_grad():
            expected = outputs(reference(**given, **others))
        clash = (set(expected) & set(kwargs)) | ({LOSS} & set(expected))
        if clash:
            raise ChainUsageError(f"reference names an output {sorted(clash)}, as a keyword argument: rename one")
        for draw in range(draws):
            v = {n: torch.randn(o.shape, generator=generator, dtype=torch.float64).to(o) for n, o in expected.items()}
            try:
                got, first, second, left, raised = _grads(fn, given, others, v)
            except RuntimeError as e:
                if layout == "contiguous":
                    raise
                name = next(iter(given))
                problem = f"fn fails on non-contiguous inputs: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
                report.problems.append(_problem_row(name, given[name], "layout", problem))
                break
            if draw == 0:
                suffix = "" if layout == "contiguous" else f" ({layout})"
                spread = _lazy(lambda g=given, e=expected: forward_spread(lambda: outputs(reference(**g, **others)), e))
                report.forward += [
                    _forward_row(f"{n}{suffix}", got[n], o, measure=lambda n=n, s=spread: s()[n])
                    for n, o in expected.items()
                ]
                if layout == "contiguous":
                    report.problems += _in_place(expected, v, first, second, left, raised)
            report.runs.append((f"{layout}, draw {draw}", _against_reference(reference, given, others, v, first)))
    if any(torch.finfo(t.dtype).bits <= 16 for t in params.values()):
        report.mathematics = _in_float64(fn, reference, draws, seed, params, others, report.notes)
    return report


def _in_float64(fn, reference, draws, seed, params, others, notes: list) -> "FunctionReport | None":
    """verify_function on the inputs upcast to float64, or None with a note where it cannot speak: fn or reference
    cannot run in float64, or fn's outputs or gradients do not follow its inputs to float64 (a kernel of fixed
    dtype), which would be no evidence against its mathematics."""
    upcast = {k: t.detach().to(torch.float64) for k, t in params.items()}
    try:
        exact = verify_function(fn, reference, draws=draws, seed=seed, **upcast, **others)
    except Exception as e:  # whatever fn raises in float64: its 16-bit rows stand as judged
        notes.append(f"the mathematics could not be checked in float64 ({type(e).__name__}: {e}): rows as judged")
        return None
    fixed = sorted({r.name for r in exact.rows if r.status in ("dtype", "device", "shape", "missing")})
    if fixed:
        notes.append(
            f"the mathematics could not be checked in float64: fn's {', '.join(fixed)} did not come back as float64 "
            "tensors of the reference's shape when given float64 inputs; rows as judged in the run's dtype"
        )
        return None
    return exact
