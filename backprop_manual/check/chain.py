"""verify_chain: any hand-written backward against autograd on the same forward, every named gradient, in chain order.

    forward(**params, **inputs) -> {"z": z, "sigma": sigma, ..., "loss": J}   named intermediates, as computed
    backward(fwd, **params, **inputs) -> {"sigma": dJ/dsigma, "z": dJ/dz, "w": dJ/dw, ...}   by hand
The oracle is autograd on `forward` (or on `oracle`, a forward of torch's own ops, when the hand-written forward
must be checked too): never the backward under test. Rows come in chain order (check/graph.py), each checked by
check/compare.py; the first divergent row is the cause, the later ones usually its echoes.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial

import torch

from backprop_manual.check.compare import Row, compare_tensor, dtype_name
from backprop_manual.check.floor import cancellation_scale, rounding_floor
from backprop_manual.check.graph import LOSS, ChainUsageError, chain_order, consumers
from backprop_manual.check.oracle import Oracle, autograd_oracle, call_forward
from backprop_manual.check.witness import Witness, finite_difference_witness


@dataclass
class ChainReport:
    rows: list[Row]  # in chain order
    manual: dict[str, torch.Tensor | None]  # what the backward returned, by name
    autograd: dict[str, torch.Tensor]
    dtype: torch.dtype
    device: torch.device
    notes: list[str] = field(default_factory=list)  # what the run noticed beside the rows (a dtype promotion, ...)
    witness_fn: Callable[[str], Witness | str] | None = field(default=None, repr=False)
    params: tuple[str, ...] = ()  # which rows are parameters: the witness is taken at them
    loss_finite: bool = True  # J itself was finite: else nothing could be verified at this point (not a mismatch)

    @property
    def ok(self) -> bool:
        """Every row agrees, at a point where J itself is finite (else nothing was verified)."""
        return self.loss_finite and all(r.ok for r in self.rows)

    @property
    def first_divergence(self) -> Row | None:
        """The first gradient in chain order that disagrees: the bug; the rows after it are its echoes."""
        return next((r for r in self.rows if not r.ok), None)

    def row(self, name: str) -> Row:
        return next(r for r in self.rows if r.name == name)

    def witness(self) -> Witness | str | None:
        """Finite differences at the first parameter whose values diverge; a sentence when it cannot say."""
        first = self.first_divergence
        if first is None or self.witness_fn is None:
            return None
        if first.status not in ("MISMATCH", "not finite"):
            return f"not consulted: the first divergence is a {first.status} problem, not a question of values"
        name = next(
            (r.name for r in self.rows if r.status in ("MISMATCH", "not finite") and r.name in self.params), None
        )
        if name is None:
            return (
                "every parameter's gradient agrees on both sides, so finite differences at the parameters cannot tell"
            )
        return self.witness_fn(name)

    def assert_ok(self) -> None:
        """AssertionError with the message (the first divergence, the witness, the table) unless all agree."""
        __tracebackhide__ = True  # pytest shows the caller's line
        if not self.ok:
            raise AssertionError(self.message())

    def where(self) -> str:
        return f"on {self.device} in {dtype_name(self.dtype)}"

    def message(self) -> str:
        first = self.first_divergence
        notes = "".join(f"  note: {n}\n" for n in self.notes)
        if first is None:
            verdict = "agree" if self.loss_finite else "agree, but J is not finite: nothing verified"
            return f"all {len(self.rows)} gradients {verdict}, {self.where()}\n{notes}{self.table()}"
        head = (
            f"{first.name} ({first.label}, {first.symbol}) is the first gradient in chain order to diverge: "
            f"{first.problem}"
            + (f"; {first.mismatched} / {first.numel} elements mismatched" if first.mismatched else "")
        )
        if (
            first.status in ("MISMATCH", "not finite", "shape", "dtype", "device")
            and first.numel
            and first.manual == first.manual
        ):
            head += (
                f"; at {first.where}: manual {first.manual:.8g} vs autograd {first.autograd:.8g}, "
                f"|diff| {abs(first.manual - first.autograd):.3g}, allowed {first.allowance:.3g}"
            )
        return f"{head}, {self.where()}\n{notes}  witness: {describe(self.witness())}\n{self.table()}"

    def table(self) -> str:
        """One row per gradient, in chain order: differences, allowance, ULPs, mismatched elements, headroom."""
        lines = [
            f"  {'gradient':<28}{'':7}{'shape':<11}{'max |diff|':>11}{'max rel':>11}{'allowance':>11}"
            f"{'ulp/budget':>12}{'floor':>10}{'mismatched':>13}{'headroom':>10}  {'at':<10}status"
        ]
        first = self.first_divergence
        for r in self.rows:
            a = self.autograd[r.name]
            shape = f"[{', '.join(map(str, a.shape))}]"
            status = r.status + ("  <- first" if r is first else "")
            lines.append(
                f"  {r.label:<28}{r.symbol:<7}{shape:<11}{r.abs_diff:>11.3e}{r.rel_diff:>11.3e}{r.allowance:>11.3e}"
                f"{f'{r.max_ulp:.3g}/{r.ulp_budget:g}':>12}{r.floor:>10.2e}{f'{r.mismatched}/{r.numel}':>13}"
                f"{r.headroom:>10.3g}  {r.where:<10}{status}"
            )
        return "\n".join(lines)


def describe(w: Witness | str | None) -> str:
    if w is None:
        return "not needed"
    if isinstance(w, str):
        return w
    verdict = {
        "manual": "the manual side is wrong",
        "autograd": "the autograd side is wrong (the forward's own backward: a custom torch.autograd.Function?)",
        "undecided": "it cannot tell which side is wrong",
    }[w.wrong]
    return (
        f"float64 central differences of the forward along a random direction u of {w.parameter} give "
        f"dJ/d{w.parameter}·u = {w.finite_difference:.10g} (±{w.error:.2g}); manual is {w.off_manual:.3g} from it, "
        f"autograd {w.off_autograd:.3g}: {verdict}"
    )


def _samples(inputs: Mapping, per_sample: bool) -> int | None:
    if not per_sample:
        return None
    sizes = {k: v.shape[0] for k, v in inputs.items() if isinstance(v, torch.Tensor) and v.ndim}
    if not sizes or len(set(sizes.values())) != 1:
        raise ChainUsageError(
            f"per_sample=True wants the samples along every input tensor's first dimension; got {sizes or 'none'}"
        )
    return next(iter(sizes.values()))


def _check_params(params: Mapping) -> None:
    if not isinstance(params, Mapping) or not params:
        raise ChainUsageError("params must be a non-empty dict of name -> floating-point tensor")
    for k, p in params.items():
        if not isinstance(p, torch.Tensor) or not p.is_floating_point():
            raise ChainUsageError(
                f"parameter {k!r} must be a floating-point tensor, not {getattr(p, 'dtype', type(p))}"
            )


def _promotions(params: Mapping, ora: Oracle, fed: dict[str, set[str]]) -> list[str]:
    """Parameters that torch promoted to another dtype or shape where they were used (the lesson's 0-d float32 w
    times a float64 x of shape [1])."""
    notes = []
    for name, p in params.items():
        for c in sorted(fed.get(name, ())):
            t = ora.intermediates.get(c, ora.loss if c == LOSS else None)
            if t is not None and t.dtype != p.dtype:
                notes.append(
                    f"torch promoted {name} ({dtype_name(p.dtype)} of shape {list(p.shape)}) to "
                    f"{dtype_name(t.dtype)} of shape {list(t.shape)} in {c}: the inputs are another dtype; give the "
                    "parameters and the inputs one dtype"
                )
                break
    return notes


def verify_chain(
    forward: Callable,
    backward: Callable,
    params: Mapping[str, torch.Tensor],
    inputs: Mapping | None = None,
    *,
    per_sample: bool = False,
    oracle: Callable | None = None,
) -> ChainReport:
    """backward(forward(...)) against autograd on `oracle or forward`, every gradient, in chain order."""
    inputs = dict(inputs or {})
    _check_params(params)
    clash = set(params) & set(inputs)
    if clash:
        raise ChainUsageError(f"{', '.join(map(repr, sorted(clash)))}: both a parameter and an input")
    n = _samples(inputs, per_sample)
    ora = autograd_oracle(oracle or forward, params, inputs, per_sample=per_sample, samples=n)
    detached = {k: p.detach() for k, p in params.items()}
    with torch.no_grad():
        if oracle is None:
            fwd = {k: t.detach() for k, t in ora.intermediates.items()} | {LOSS: ora.loss.detach()}
        else:
            fwd = call_forward(forward, detached, inputs, per_sample=per_sample, samples=n)
            if set(fwd) - {LOSS} != set(ora.intermediates):
                raise ChainUsageError(
                    f"the forward names {sorted(set(fwd) - {LOSS})}, the oracle {sorted(ora.intermediates)}: "
                    "they must name the same intermediates"
                )
        got = backward(fwd, **detached, **inputs)
    if not isinstance(got, Mapping):
        raise ChainUsageError(
            f"the backward must return a dict of gradients by name; it returned a {type(got).__name__}"
        )
    known = [*ora.intermediates, *params]
    unknown = [k for k in got if k not in known and k != LOSS]
    if unknown:
        swapped = " (did you pass them as inputs? the parameters go in params=)" if set(unknown) <= set(inputs) else ""
        raise ChainUsageError(
            f"the backward returned {', '.join(map(repr, unknown))}, which is neither an intermediate of the forward "
            f"({', '.join(ora.intermediates) or 'none'}) nor a parameter ({', '.join(params)}){swapped}"
        )
    fed = consumers({**ora.intermediates, LOSS: ora.loss}, ora.leaves)
    order = chain_order(list(ora.intermediates), list(params), fed)
    rows = []
    for name in order:
        floor = None if per_sample and name in params else partial(_floor, name, ora, fed, per_sample)
        rows.append(compare_tensor(name, got.get(name), ora.gradients[name], per_sample=per_sample, floor=floor))
    manual = {name: got.get(name) for name in order}
    report = ChainReport(
        rows,
        manual,
        {name: ora.gradients[name] for name in order},
        ora.loss.dtype,
        ora.loss.device,
        _promotions(params, ora, fed),
        lambda name: finite_difference_witness(
            oracle or forward, detached, inputs, name, manual[name], ora.gradients[name]
        ),
        tuple(params),
        bool(torch.isfinite(ora.loss.detach()).all()),
    )
    if not report.loss_finite:
        report.notes.append("J is not finite at this point (the forward overflows or divides by zero): not verified")
    return report


def _floor(name: str, ora: Oracle, fed: dict[str, set[str]], per_sample: bool) -> torch.Tensor:
    """The rounding floor of what flows into dJ/d(name) (check/floor.py)."""
    t = ora.intermediates.get(name, ora.leaves.get(name))
    flows = [
        (ora.loss, torch.ones_like(ora.loss)) if c == LOSS else (ora.intermediates[c], ora.gradients[c])
        for c in sorted(fed[name])
    ]
    return rounding_floor(cancellation_scale(t, flows, per_sample=per_sample), ora.gradients[name])
