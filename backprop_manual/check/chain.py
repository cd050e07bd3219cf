"""verify_chain: any hand-written backward against autograd on the same forward, every named gradient, in chain order.

    forward(**params, **inputs) -> {"z": z, "sigma": sigma, ..., "loss": J}   named intermediates, as computed
    backward(fwd, **params, **inputs) -> {"sigma": dJ/dsigma, "z": dJ/dz, "w": dJ/dw, ...}   by hand
The oracle is autograd on `forward` (or on `oracle`, a forward of torch's own ops, when the hand-written forward
must be checked too): never the backward under test. Rows come in chain order (check/graph.py), each checked by
check/compare.py against autograd's own rounding at the point (check/model.py); the first divergent row is the
cause, the later ones usually its echoes.

Below float64 the mathematics is checked apart from the arithmetic: the same forward and backward run again on the
same values upcast to float64, judged by the same rule against float64 autograd. In bfloat16 and float16 always; in
float32 when a row fails in float32. A row that fails in its own dtype but holds in float64 is right and only "less
accurate than autograd (×r)", r = max|manual - ref| / max|autograd - ref| against the float64 reference: ok, unless
strict=True. A row that holds in its dtype but fails in float64 is a MISMATCH, shown with float64's numbers.
"""

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import partial

import torch

from backprop_manual.check.compare import (
    LESS_ACCURATE,
    Row,
    all_agree,
    compare_rows,
    dtype_name,
    label,
    lesson_chain,
    tensor_or_usage_error,
)
from backprop_manual.check.graph import LOSS, ChainUsageError, chain_order, consumers
from backprop_manual.check.model import (
    MULTIPLIER,
    forward_and_backward_spread,
    given_values_spread,
    monte_carlo_spread,
    rounding_bound,
)
from backprop_manual.check.oracle import Oracle, autograd_oracle, call_forward
from backprop_manual.check.propagated import propagated_spread
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
    params: tuple[str, ...] = ()  # which rows are parameters or checked inputs: the witness is taken at them
    loss_finite: bool = True  # J itself was finite: else nothing could be verified at this point (not a mismatch)
    strict: bool = False  # "less accurate than autograd" counts as a divergence

    def _diverges(self, r: Row) -> bool:
        return not r.ok or (self.strict and r.status == LESS_ACCURATE)

    @property
    def ok(self) -> bool:
        """Every row agrees, at a point where J itself is finite (else nothing was verified)."""
        return self.loss_finite and not any(self._diverges(r) for r in self.rows)

    @property
    def first_divergence(self) -> Row | None:
        """The first gradient in chain order that disagrees: the bug; the rows after it are its echoes."""
        return next((r for r in self.rows if self._diverges(r)), None)

    @property
    def less_accurate(self) -> list[Row]:
        """The rows right in float64 whose own arithmetic is worse than autograd's."""
        return [r for r in self.rows if r.status == LESS_ACCURATE]

    def row(self, name: str) -> Row:
        return next(r for r in self.rows if r.name == name)

    def witness(self) -> Witness | str | None:
        """Finite differences at the first parameter whose values diverge; a sentence when it cannot say."""
        first = self.first_divergence
        if first is None or self.witness_fn is None:
            return None
        if first.status not in ("MISMATCH", "not finite"):
            return f"not consulted: the first divergence ({first.status}) is not a question of values"
        name = next(
            (r.name for r in self.rows if r.status in ("MISMATCH", "not finite") and r.name in self.params), None
        )
        if name is None:
            return (
                "every parameter's (and checked input's) gradient agrees on both sides, so finite differences there "
                "cannot tell"
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
            verdict = all_agree(len(self.rows))
            if not self.loss_finite:
                verdict += ", but J is not finite: nothing verified"
            if self.less_accurate:
                verdict += f" ({len(self.less_accurate)} less accurate than autograd)"
            said = "".join(f"  {r.name}: {r.problem}\n" for r in self.rows if r.status == "ok" and r.problem)
            return f"{verdict}, {self.where()}\n{said}{notes}{self.table()}"
        named = f"{first.label}, {first.symbol}" if first.label != first.name else first.symbol
        head = f"{first.name} ({named}) is the first gradient in chain order to diverge: {first.problem}" + (
            f"; {first.mismatched} / {first.numel} elements mismatched" if first.mismatched else ""
        )
        if first.numel and first.manual == first.manual and first.status != "missing":
            head += f"; at {first.where}: manual {first.manual:.8g} vs autograd {first.autograd:.8g}"
            if first.status not in ("MISMATCH", LESS_ACCURATE):
                head += f", |diff| {abs(first.manual - first.autograd):.3g}, allowed {first.allowance:.3g}"
        return f"{head}, {self.where()}\n  witness: {describe(self.witness())}\n{notes}{self.table()}"

    def table(self) -> str:
        """One row per gradient, in chain order, every number at one element, `at` (the first out of its allowance,
        else the nearest to it): |diff|, the allowance, autograd's uncertainty u (allowed = MULTIPLIER · u), what u
        is, and ratio = |diff| / allowed there (an agreeing row's largest over its elements)."""
        shapes = [f"[{', '.join(map(str, self.autograd[r.name].shape))}]" for r in self.rows]
        counts = [f"{r.mismatched}/{r.numel}" for r in self.rows]
        # every column as wide as its longest entry needs (a long name, a [64, 1024, 768], 786432/786432)
        width = max([28, *(len(r.label) + 2 for r in self.rows)])
        sym = max([7, *(len(r.symbol) + 2 for r in self.rows)])
        wide = max([13, *(len(x) + 2 for x in shapes)])
        mis = max([12, *(len(x) + 2 for x in counts)])
        at = max([12, *(len(r.where) + 2 for r in self.rows)])
        lines = [
            f"  {'gradient':<{width}}{'':{sym}}{'shape':<{wide}}{'|diff|':>11}{'allowed':>11}{'u':>11}{'ratio':>9}"
            f"  {'rule':<9}{'mismatched':>{mis}}  {'at':<{at}}status"
        ]
        first = self.first_divergence
        for r, shape, count in zip(self.rows, shapes, counts, strict=True):
            status = r.status + ("  <- first" if r is first else "")
            lines.append(
                f"  {r.label:<{width}}{r.symbol:<{sym}}{shape:<{wide}}{r.diff:>11.3e}{r.allowance:>11.3e}"
                f"{r.uncertainty:>11.3e}{r.ratio_at:>9.3g}  {r.rule:<9}{count:>{mis}}  {r.where:<{at}}{status}"
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


def checked_inputs(check_inputs: Iterable[str], params: Mapping, inputs: Mapping) -> tuple[str, ...]:
    """check_inputs as a tuple of names, each a floating-point tensor of `inputs` and not a parameter."""
    if isinstance(check_inputs, str):
        raise ChainUsageError(f"check_inputs is a collection of names, e.g. ({check_inputs!r},), not a string")
    names = tuple(dict.fromkeys(check_inputs))
    for k in names:
        if k in params:
            raise ChainUsageError(
                f"check_inputs names {k!r}, a parameter: a parameter's gradient is checked anyway; check_inputs is for "
                "entries of inputs"
            )
        if k not in inputs:
            raise ChainUsageError(
                f"check_inputs names {k!r}, which is not among the inputs ({', '.join(map(repr, inputs)) or 'none'})"
            )
        x = inputs[k]
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            what = dtype_name(x.dtype) if isinstance(x, torch.Tensor) else f"a {type(x).__name__}"
            raise ChainUsageError(
                f"check_inputs names {k!r}, which is {what}: only a floating-point tensor has a gradient"
            )
    return names


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
    strict: bool = False,
    escalate: bool = True,
    forward_rounding: bool = False,
    check_inputs: Iterable[str] = (),
    mathematics: bool = True,
) -> ChainReport:
    """backward(forward(...)) against autograd on `oracle or forward`, every gradient, in chain order.

    forward(**params, **inputs) -> {name: tensor, ..., "loss": J}: the named intermediates, in the order computed.
    backward(fwd, **params, **inputs) -> {name: dJ/d(name)}: by hand, from the forward's values `fwd` (autograd's
        own, detached, unless `oracle` is given); every gradient a torch.Tensor (a list, a numpy array or a Python
        number is a ChainUsageError: return torch.as_tensor(...)); a name it leaves out is a row "missing".
    params: the tensors gradients are taken for (floating point); a non-empty dict of name -> tensor.
    inputs: everything else the forward takes (data, targets, an eps), passed through untouched; not differentiated
        unless named in check_inputs.
    check_inputs: names of floating-point tensors of `inputs` (a layer's x) whose dJ/d(name) is checked too: a
        row in chain order, judged as a parameter's is, never trained by verify_training; per_sample: dJ_i/dx_i,
        row i of the summed J's gradient, x's own shape.
    per_sample: the loss has one J per sample (the first dimension of every input tensor); each sample's own
        dJ_i/d(parameter) is compared, shape [N, *parameter].
    oracle: a forward of torch's own ops naming the same intermediates, when the hand-written forward is under
        test too; autograd runs on it and the backward receives the hand-written forward's values.
    strict: a gradient right in float64 but less accurate than autograd in its own dtype counts as a divergence.
    escalate: False judges by the rounding bound alone, nothing measured and no float64 re-run: for a derivation
        whose rounding an analysis bounds (the lesson's neuron: tests/check/test_tolerances.py), so that its rows
        are the same however its samples are split (cli/streaming.py compares chunk by chunk).
    forward_rounding: the gradients under test come from a forward of their own, not from the values `fwd` handed
        to `backward` (a sharded forward on other processes, another order of summation: verify_distributed);
        that forward's rounding is then not common to both sides, and autograd's uncertainty is measured on the
        forward and its backward together (check/model.py, forward_and_backward_spread).
    mathematics: False leaves out the float64 re-run below float64 (every row judged in the run's dtypes only), for a
        caller that checks the mathematics itself on its own inputs upcast (verify_function: fn's gradients are
        computed once, in the run's dtype, so a re-run here could only say they did not follow to float64).
    Every dtype autograd supports: float64, float32, bfloat16, float16 (see the module's docstring), on any device.
    Returns the ChainReport (.ok, .first_divergence, .message(), .assert_ok()); raises ChainUsageError when the
    forward, the backward or the arguments break this contract (the message says what and where).
    """
    inputs = dict(inputs or {})
    _check_params(params)
    clash = set(params) & set(inputs)
    if clash:
        raise ChainUsageError(f"{', '.join(map(repr, sorted(clash)))}: both a parameter and an input")
    checked = checked_inputs(check_inputs, params, inputs)
    n = _samples(inputs, per_sample)
    ora = autograd_oracle(oracle or forward, params, inputs, per_sample=per_sample, samples=n, check_inputs=checked)
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
    known = [*ora.intermediates, *params, *checked]
    unknown = [k for k in got if k not in known and k != LOSS]
    if unknown:
        swapped = (
            " (did you pass them as inputs? the parameters go in params=; an input's gradient is checked when named in "
            "check_inputs=)"
            if set(unknown) <= set(inputs)
            else ""
        )
        raise ChainUsageError(
            f"the backward returned {', '.join(map(repr, unknown))}, which is neither an intermediate of the forward "
            f"({', '.join(ora.intermediates) or 'none'}) nor a parameter ({', '.join(params)}){swapped}"
        )
    for name in known:
        if got.get(name) is not None:
            tensor_or_usage_error(name, got[name], ora.gradients[name])
    fed = consumers({**ora.intermediates, LOSS: ora.loss}, ora.leaves)
    order = chain_order(list(ora.intermediates), [*params, *checked], fed)
    spread = _Spread(ora, per_sample, lambda f, p, i: backward(f, **p, **i), fwd, detached, inputs, got)
    if forward_rounding or oracle is not None:  # with an oracle, the backward's values are the forward's own
        spread.forward = oracle or forward
    rows = compare_rows(  # compare_tensor for each name, the rows that agree in one flat pass over all of them
        order,
        got,
        ora.gradients,
        lambda name: spread.measure(name, params) if escalate else None,
        spread.estimate if escalate else None,
    )
    if not lesson_chain(order):  # the lesson's delta_J_delta_z is the neuron's; any other chain keeps its own names
        rows = [replace(r, label=label(r.name, lesson=False)) for r in rows]
    dtype = ora.loss.dtype
    notes = _promotions({**params, **{k: inputs[k] for k in checked}}, ora, fed)
    device_type = ora.loss.device.type
    if torch.is_autocast_enabled(device_type):
        notes.append(
            f"under torch.autocast ({dtype_name(torch.get_autocast_dtype(device_type))} on {device_type}): each "
            "gradient is judged in the dtype autograd computed it in (the table's rows), its mathematics in float64"
        )
    precise = all(r.dtype == torch.float64 for r in ora.gradients.values())
    if (
        escalate
        and mathematics
        and not precise
        and (any(_lower(r.dtype) for r in ora.gradients.values()) or any(not r.ok for r in rows))
    ):
        again = dict(per_sample=per_sample, oracle=oracle, check_inputs=checked, forward_rounding=forward_rounding)
        rows, exact = _mathematics(rows, notes, forward, backward, params, inputs, got, ora, spread, again)
    else:
        exact = None
    manual = {name: got.get(name) for name in order}
    # a row wrong as mathematics only (within its dtype's rounding) is witnessed where it was seen: in float64, on
    # the same values upcast (the run's own values cannot tell its sides apart)
    in_float64 = {r.name for r in rows if r.problem.startswith(WRONG_AS_MATHEMATICS)} if exact is not None else set()
    report = ChainReport(
        rows,
        manual,
        {name: ora.gradients[name] for name in order},
        dtype,
        ora.loss.device,
        notes,
        lambda name: (
            exact.witness_fn(name)
            if name in in_float64
            else finite_difference_witness(  # a checked input is moved along u as a parameter is
                oracle or forward,
                {**detached, **{k: inputs[k] for k in checked}},
                {k: v for k, v in inputs.items() if k not in checked},
                name,
                manual[name],
                ora.gradients[name],
            )
        ),
        (*params, *checked),
        bool(torch.isfinite(ora.loss.detach()).all()),
        strict,
    )
    if not report.loss_finite:
        report.notes.append("J is not finite at this point (the forward overflows or divides by zero): not verified")
    return report


def _lower(dtype: torch.dtype) -> bool:
    """bfloat16, float16: the mathematics is always checked in float64 (a 16-bit ε hides ordinary slips)."""
    return dtype.is_floating_point and torch.finfo(dtype).bits <= 16


class _Spread:
    """The rounding at every element (check/model.py), for all names at once when first asked, in tiers: an estimate
    of autograd's own, propagated through its backward in one pass (check/propagated.py), which settles agreement or
    is set aside; autograd's own measured (Monte Carlo arithmetic on its backward); then, only for a name where that
    is not enough, also that of the values the hand backward is handed (the forward's results, the parameters, the
    inputs, each rounded), carried through it (8 more calls of the hand backward)."""

    def __init__(self, ora: Oracle, per_sample: bool, backward, fwd, params, inputs, got):
        self.ora, self.per_sample, self.autograd, self.handed, self.propagated = ora, per_sample, None, None, None
        self.forward: Callable | None = None  # set: the forward's rounding is measured too (forward_rounding)
        self.backward, self.fwd, self.params, self.inputs, self.got = backward, fwd, params, inputs, got

    def measure(self, name: str, params: Mapping) -> Callable[[], Iterator[torch.Tensor]] | None:
        if self.per_sample and name in params:
            return None  # each sample's own dJ_i/dp comes from vmap, outside this graph: the rounding bound alone
        return partial(self._tiers, name)

    def u(self, name: str) -> torch.Tensor:
        """u at every element: the rounding bound, and every tier of the measurement where there is one."""
        bound = rounding_bound(self.ora.gradients[name])
        measure = self.measure(name, self.params if self.per_sample else {})
        return bound if measure is None else torch.maximum(bound, [*measure()][-1].to(bound.device))

    def _tiers(self, name: str) -> Iterator[torch.Tensor | tuple[str, torch.Tensor]]:
        estimate = self._propagated().get(name)
        if estimate is not None:
            yield "propagated", estimate
        s = self._autograd()[name]
        yield s
        handed = self._handed().get(name)
        if handed is not None and handed.shape == s.shape:
            yield torch.maximum(s, handed.to(s.device))

    def _targets(self) -> tuple[list[str], list[torch.Tensor], torch.Tensor]:
        """(names, the tensors in autograd's graph, J summed): what the measurements differentiate."""
        ora = self.ora
        names = [*ora.intermediates, *(ora.inputs if self.per_sample else ora.leaves)]  # not vmap's
        targets = [ora.intermediates[k] if k in ora.intermediates else ora.leaves[k] for k in names]
        return names, targets, ora.loss.sum() if self.per_sample else ora.loss

    def estimate(self) -> dict[str, torch.Tensor]:
        """The first tier's estimate per name, for compare_rows: computed once, shared with the tiers."""
        return self._propagated()

    def _propagated(self) -> dict[str, torch.Tensor]:
        """The first tier's estimate per name (check/propagated.py); none where the backward has an operation it has
        no rule for, or the gradients come from a forward of their own (forward_rounding: the draws measure it)."""
        if self.propagated is None:
            self.propagated = {}
            if self.forward is None:
                names, targets, total = self._targets()
                spread = propagated_spread(total, targets)
                if spread is not None:
                    self.propagated = dict(zip(names, spread, strict=True))
        return self.propagated

    def _autograd(self) -> dict[str, torch.Tensor]:
        if self.autograd is None:
            ora = self.ora
            names, targets, total = self._targets()
            if self.forward is None:
                spread = monte_carlo_spread(total, targets, [ora.gradients[k] for k in names])
            else:
                again = forward_and_backward_spread(self._again, {k: ora.gradients[k] for k in names})
                spread = [again[k] for k in names]
            self.autograd = dict(zip(names, spread, strict=True))
        return self.autograd

    def _handed(self) -> dict[str, torch.Tensor]:
        if self.handed is None:
            self.handed = given_values_spread(self.backward, self.fwd, self.params, self.inputs, self.got)
        return self.handed

    def _again(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The forward on fresh leaves: (J, every intermediate and parameter by name), for a measurement."""
        leaves = {k: p.detach().requires_grad_(True) for k, p in self.params.items()}
        checked = {k: self.inputs[k].detach().requires_grad_(True) for k in self.ora.inputs}
        out = dict(self.forward(**leaves, **(self.inputs | checked)))
        loss = out.pop(LOSS)
        return (loss.sum(), out | checked) if self.per_sample else (loss, out | leaves | checked)


def _upcast(values: Mapping) -> dict:
    return {
        k: v.detach().to(torch.float64) if isinstance(v, torch.Tensor) and v.is_floating_point() else v
        for k, v in values.items()
    }


def _times(manual: torch.Tensor, autograd: torch.Tensor, reference: torch.Tensor, u: torch.Tensor) -> float:
    """r = max|manual - ref| / max(|autograd - ref|, u) over the elements where manual and autograd disagree beyond
    the allowance, ref the float64 autograd: how many times less accurate manual is than autograd there.

    Elements where autograd itself is off ref beyond its allowance are left out when manual is nearer ref than
    autograd (autograd is the less accurate one there: a result flushed to 0 in float16); where manual is not nearer
    either, float64 cannot speak for the element (the run took another branch than the upcast values, a ReLU's kink
    at an exact 0): inf, a MISMATCH. 0 when no element is left: manual is the more accurate side everywhere; r <= 1:
    manual is as accurate as autograd, which is then the side rounding took further from the mathematics."""
    ref = reference.reshape(-1)
    m = manual.detach().reshape(-1).to(ref)
    a = autograd.detach().reshape(-1).to(ref)
    u = u.reshape(-1).to(ref)
    m_err, a_err = (m - ref).abs(), (a - ref).abs()
    where = (m - a).abs() > MULTIPLIER * u
    autograd_off = a_err > MULTIPLIER * u
    if bool((where & autograd_off & (m_err > a_err)).any()):
        return math.inf
    where &= ~autograd_off
    if not bool(where.any()):
        return 0.0
    return float((m_err / torch.maximum(a_err, u))[where].max())


def _arithmetic(times: float, dtype: torch.dtype) -> bool:
    """Whether r is an arithmetic difference: at most 1/√ε (float32 2896, float16 32, bfloat16 11). Beyond it no
    rounding explains it, and the run disagrees with autograd: a MISMATCH."""
    return times <= 1 / torch.finfo(dtype).eps ** 0.5


WRONG_AS_MATHEMATICS = "wrong as mathematics"


def _mathematics(rows, notes, forward, backward, params, inputs, got, ora, spread, again: dict):
    """(the rows, each judged again as mathematics, and the float64 run's ChainReport or None): the same forward and
    backward on the values upcast to float64, through verify_chain with the run's own options (`again`: per_sample,
    oracle, check_inputs, forward_rounding)."""
    device_type = ora.loss.device.type
    try:
        with torch.autocast(device_type, enabled=False):
            exact = verify_chain(forward, backward, _upcast(params), _upcast(inputs), **again)
    except Exception as e:  # a forward or backward that cannot run in float64: the rows stand as judged
        notes.append(f"the mathematics could not be checked in float64 ({type(e).__name__}: {e}): rows as judged")
        return rows, None
    fixed = [x.name for x in exact.rows if x.status in ("dtype", "device", "shape", "missing", "not a tensor")]
    if fixed:  # the backward does not follow its inputs to float64 (fn's own gradients, computed once): no say
        notes.append(
            f"the mathematics could not be checked in float64: the backward's {', '.join(fixed)} did not come back "
            "as float64 tensors of autograd's shape when given float64 values; rows as judged in the run's dtype"
        )
        return rows, None
    judged = []
    for r in rows:
        r64 = next((x for x in exact.rows if x.name == r.name), None)
        if r64 is None or r.status not in ("ok", "MISMATCH"):
            judged.append(r)
        elif (
            r.status == "MISMATCH"
            and r64.ok
            and _arithmetic(
                times := _times(got[r.name], ora.gradients[r.name], exact.autograd[r.name], spread.u(r.name)),
                ora.gradients[r.name].dtype,
            )
        ):
            dtype = dtype_name(ora.gradients[r.name].dtype)
            judged.append(
                # ok is float64's verdict: the row shows float64's numbers, which agree with it (the run's own, past
                # its allowance, would contradict "ok"), and says in words what the run's dtype saw
                replace(
                    r64,
                    status="ok",
                    problem=f"as accurate as autograd: in {dtype} |manual - autograd| {r.diff:.3g} > allowed "
                    f"{r.allowance:.3g} at {r.index}, {r.mismatched} / {r.numel} elements, but manual is "
                    + (
                        "nearer float64's autograd than autograd is at every one of them"
                        if times == 0
                        else f"no farther from float64's autograd than autograd is there (×{times:.3g})"
                    )
                    + "; the numbers shown are float64's on the same values upcast",
                )
                if times <= 1
                else replace(
                    r,
                    status=LESS_ACCURATE,
                    problem=f"less accurate than autograd (×{times:.3g}): right in float64 (ratio {r64.ratio:.2g}), "
                    f"but in {dtype} {r.problem}",
                )
            )
        elif r.status == "MISMATCH" and r64.ok:
            judged.append(
                replace(r, problem=f"{r.problem}; right in float64, but no rounding explains the difference here")
            )
        elif r.status == "MISMATCH":
            judged.append(replace(r, problem=f"{r.problem}; in float64 on the same values too: {r64.problem}"))
        elif not r64.ok:  # within the run's rounding, wrong as mathematics: shown with float64's numbers
            judged.append(
                replace(
                    r64,
                    status="MISMATCH",
                    problem=f"{WRONG_AS_MATHEMATICS}: in float64 on the same values upcast, {r64.problem} "
                    f"(within {dtype_name(ora.gradients[r.name].dtype)}'s own rounding, ratio {r.ratio:.2g})",
                )
            )
        else:
            judged.append(r)
    if any(_lower(a.dtype) for a in ora.gradients.values()) or judged != rows:
        notes.append("mathematics checked in float64 on the same values upcast; arithmetic judged in the run's dtypes")
    return judged, exact
