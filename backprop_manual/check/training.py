"""verify_training: the hand-written backward driving SGD, in lockstep with autograd + torch.optim.SGD, step by step.

Each step k starts both sides from autograd's parameters p_k (the manual side is re-synchronised to them after every
comparison), so nothing accumulates and no verdict depends on the CPU's summation order:
    g_manual = backward(forward(p_k))[p]      g_autograd = forward(p_k)["loss"].backward(): p.grad
    judged element by element with the error model (check/compare.py, check/model.py), as verify_chain judges,
    in bfloat16 and float16 also on the step's values upcast to float64 (its mathematics)
    p_{k+1} = torch.optim.SGD(lr).step() from g_autograd, judged against SGD's formula p_k - lr·g_autograd
The first (step, parameter) that parts is reported. J or autograd's gradient not finite at step k while the manual
gradient is not finite there either (a learning rate that diverges): "diverged at step k: not verified", never a
mismatch; finite on one side only is a mismatch. Beside it, for information only and never judged: the drift of a
free-running manual trajectory (p <- p - lr·g_manual from the same start) from autograd's, per parameter.
per_sample=True takes one sample per step, in order, `epochs` times over (the lesson's loop), and the forward may be
a per-sample one (J of shape [1] for the one sample; the backward's gradients of shape [1, *parameter]); otherwise
each step sees the batch.
check_inputs (a layer's x, as verify_chain takes them): each step also judges dJ/d(input) at p_k, the step's own
batch; SGD updates the parameters only, never an input.
"""

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

import torch

from backprop_manual.check.chain import _lower, _Spread, _upcast, checked_inputs, verify_chain
from backprop_manual.check.compare import compare_rows, counted, tensor_or_usage_error
from backprop_manual.check.graph import LOSS, ChainUsageError
from backprop_manual.check.model import MULTIPLIER, rounding_bound
from backprop_manual.check.oracle import autograd_oracle, call_forward


@dataclass(frozen=True)
class Parting:
    step: int  # counted from 0
    parameter: str
    index: list[int]
    manual: float
    autograd: float
    allowance: float
    problem: str = ""  # a gradient the step could not use (missing, shape, dtype, not finite)
    role: str = "parameter"  # or "input": `parameter` names a checked input (check_inputs), judged, never trained

    def __str__(self) -> str:
        at = f"[{', '.join(map(str, self.index))}]"
        if self.manual != self.manual:  # NaN: nothing to show beside the problem
            return f"step {self.step}, {self.role} {self.parameter}: {self.problem}"
        return (
            f"step {self.step}, {self.role} {self.parameter}{at}: manual {self.manual:.10g} vs autograd "
            f"{self.autograd:.10g}: {self.problem}"
        )


@dataclass(frozen=True)
class TrainingReport:
    steps: int
    max_abs: dict[str, float]  # per parameter: the free-running drift |manual - torch.optim.SGD|, information only
    first: Parting | None
    manual: dict[str, torch.Tensor]  # the free-running manual trajectory's parameters at the end
    autograd: dict[str, torch.Tensor]
    diverged: int | None = None  # the step at which both sides stopped being finite: nothing verified from there

    @property
    def ok(self) -> bool:
        return self.first is None and self.diverged is None

    @property
    def status(self) -> str:
        if self.diverged is not None:
            return f"diverged at step {self.diverged}: not verified"
        return "ok" if self.first is None else "MISMATCH"

    def summary(self) -> str:
        diffs = ", ".join(f"{p} {d:.3e}" for p, d in self.max_abs.items())
        if self.first is not None:
            verdict = f"MISMATCH, first at {self.first}"
        elif self.diverged is not None:
            verdict = (
                f"diverged at step {self.diverged}: not verified (J or the gradients are not finite on both sides: "
                "try a smaller lr)"
            )
        else:
            verdict = "ok"
        return (
            f"training, {counted(self.steps, 'step')} in lockstep (each from autograd's parameters), free-running "
            f"drift |manual - torch.optim.SGD| (information): {diffs}: {verdict}"
        )

    def assert_ok(self) -> None:
        __tracebackhide__ = True
        if not self.ok:
            raise AssertionError(self.summary())


def _batches(inputs: Mapping, per_sample: bool, epochs: int):
    if not per_sample:
        for _ in range(epochs):
            yield dict(inputs)
        return
    sizes = {v.shape[0] for v in inputs.values() if isinstance(v, torch.Tensor) and v.ndim}
    if len(sizes) != 1:
        raise ChainUsageError("per_sample=True wants the samples along every input tensor's first dimension")
    (n,) = sizes
    for _ in range(epochs):
        for i in range(n):
            yield {k: v[i : i + 1] if isinstance(v, torch.Tensor) and v.ndim else v for k, v in inputs.items()}


def verify_training(
    forward: Callable,
    backward: Callable,
    params: Mapping[str, torch.Tensor],
    inputs: Mapping | None = None,
    *,
    lr: float,
    epochs: int = 1,
    per_sample: bool = False,
    check_inputs: Iterable[str] = (),
) -> TrainingReport:
    """Train both ways from `params` (left unchanged) in lockstep and judge every step; see the module's docstring.

    forward(**params, **inputs) -> {name: tensor, ..., "loss": J}: as verify_chain takes it.
    backward(fwd, **params, **inputs) -> {name: dJ/d(name)}: by hand, as verify_chain takes it; it drives the step.
    params: the starting point, left unchanged; the parameters SGD trains.
    inputs: everything else the forward takes, never trained.
    lr: SGD's learning rate, a finite number > 0.
    epochs: passes over the inputs.
    per_sample: one sample per step, in order (the lesson's loop); else the whole batch per step.
    check_inputs: inputs whose dJ/d(input) is judged at every step too, as verify_chain's; never updated.
    Returns the TrainingReport (.ok, .first, .summary(), .assert_ok()); a contract broken is a ChainUsageError."""
    if not (lr > 0 and lr < float("inf")):
        raise ChainUsageError(f"lr must be a finite number > 0, not {lr}")
    inputs = dict(inputs or {})
    checked = checked_inputs(check_inputs, params, inputs)
    drifting = {k: p.detach().clone() for k, p in params.items()}  # the free-running manual trajectory
    autograd = {k: p.detach().clone().requires_grad_(True) for k, p in params.items()}
    opt = torch.optim.SGD(list(autograd.values()), lr=lr)
    max_abs = dict.fromkeys(params, 0.0)
    first, diverged, step = None, None, -1
    for step, batch in enumerate(_batches(inputs, per_sample, epochs)):
        now = {k: p.detach().clone() for k, p in autograd.items()}  # p_k: both sides start from it
        judged = _judge(forward, backward, now, batch, per_sample, checked)
        if isinstance(judged, Parting):
            first = replace(judged, step=step)
            break
        if judged is None:
            diverged = step
            break
        g_auto = judged
        opt.zero_grad()
        for k, p in autograd.items():
            p.grad = g_auto[k].clone()
        opt.step()
        first = _judge_update(step, now, g_auto, autograd, lr)
        if first is not None:
            break
        _drift(forward, backward, drifting, batch, per_sample, lr, autograd, max_abs)
    return TrainingReport(step + 1, max_abs, first, drifting, {k: p.detach() for k, p in autograd.items()}, diverged)


def _judge(forward, backward, now, batch, per_sample, checked=()) -> "dict[str, torch.Tensor] | Parting | None":
    """One step judged from p_k: autograd's gradients when every parameter's agrees, else the Parting (step 0, to be
    renumbered), or None when both sides are not finite (diverged). Cheap first: each parameter's row on the rounding
    bound and, where needed, the rounding measured on this step's graph, and in bfloat16 and float16 the same again on
    the step's values upcast to float64 (a slip inside 16 bits' rounding shows only there); only a step that still
    fails is judged again by verify_chain whole (the float64 mathematics, "less accurate"), whose verdict stands."""
    summed = _summed(forward)
    handed: dict = {}
    shaped = _shaped(backward, handed, per_sample)
    ora = autograd_oracle(summed, now, batch, per_sample=False, samples=None, check_inputs=checked)
    g_auto = {k: ora.gradients[k] for k in now}
    judged = {**now, **{k: batch[k] for k in checked}}  # the parameters, then the checked inputs
    role = {k: "input" if k in checked else "parameter" for k in judged}
    with torch.no_grad():
        fwd = {k: t.detach() for k, t in ora.intermediates.items()} | {LOSS: ora.loss.detach()}
        got = shaped(fwd, **now, **batch)
    auto_finite = bool(torch.isfinite(ora.loss).all()) and all(bool(torch.isfinite(g).all()) for g in g_auto.values())
    grads = handed.get("grads")
    why = {k: _unusable(grads, k, p, per_sample, ora.gradients[k], role[k]) for k, p in judged.items()}
    unusable = next(((k, w) for k, w in why.items() if w), None)
    if not auto_finite and (unusable is None or "not finite" in unusable[1]):
        return None  # both sides not finite: a learning rate that diverges, not a mismatch
    if unusable is not None:
        return Parting(0, unusable[0], [], math.nan, math.nan, math.nan, unusable[1], role[unusable[0]])
    # In bfloat16 and float16 a slip inside the dtype's rounding is seen only in float64, as verify_chain sees it: the
    # step's mathematics is judged there too, on the same values upcast, cheap first as well
    if _agrees(ora, shaped, fwd, now, batch, got, judged) and (
        not any(_lower(g.dtype) for g in g_auto.values()) or _agrees_in_float64(summed, shaped, now, batch, checked)
    ):
        return g_auto
    report = verify_chain(summed, shaped, now, batch, check_inputs=checked)
    row = next((r for r in report.rows if r.name in judged and not r.ok), None)  # the training's: a parameter's
    if row is None:
        return g_auto
    problem = f"dJ/d{row.name}: {row.problem}"
    return Parting(0, row.name, row.index, row.manual, row.autograd, row.allowance, problem, role[row.name])


def _agrees(ora, shaped, fwd, now, batch, got, judged) -> bool:
    """Every judged gradient within its allowance: on the rounding bound alone first (measuring can only widen an
    allowance, u = max(bound, spread), so a step whose every element is within it on the bound passes measured too),
    and only where that fails, with the rounding measured on this step's graph (Monte Carlo arithmetic)."""
    if all(r.ok for r in compare_rows(judged, got, ora.gradients, lambda k: None)):
        return True
    spread = _Spread(ora, False, lambda f, p, i: shaped(f, **p, **i), fwd, now, batch, got)
    return all(r.ok for r in compare_rows(judged, got, ora.gradients, lambda k: spread.measure(k, {}), spread.estimate))


def _agrees_in_float64(summed, shaped, now, batch, checked) -> bool:
    """_agrees on the step's values upcast to float64: its forward, autograd and the hand backward run there. True
    (no say) where float64 cannot speak, as verify_chain's own float64 check has it: the forward or the backward
    cannot run there, or the backward's gradients do not follow its inputs to float64 (fixed dtype)."""
    now64, batch64 = _upcast(now), _upcast(batch)
    judged = [*now64, *checked]
    try:
        with torch.autocast(next(iter(now.values())).device.type, enabled=False):
            ora = autograd_oracle(summed, now64, batch64, per_sample=False, samples=None, check_inputs=checked)
            with torch.no_grad():
                fwd = {k: t.detach() for k, t in ora.intermediates.items()} | {LOSS: ora.loss.detach()}
                got = shaped(fwd, **now64, **batch64)
    except Exception:  # no say, as verify_chain's float64 check has it
        return True
    if not isinstance(got, Mapping) or any(
        not isinstance(got.get(k), torch.Tensor)
        or got[k].dtype != torch.float64
        or got[k].shape != ora.gradients[k].shape
        for k in judged
    ):
        return True  # fixed dtype or shape: float64 has no say here
    return _agrees(ora, shaped, fwd, now64, batch64, got, judged)


def _summed(forward: Callable) -> Callable:
    """The step's forward with J summed: one scalar, for one sample's J of shape [1] as for a batch's."""

    def summed(**kw):
        out = forward(**kw)
        if isinstance(out, Mapping) and isinstance(out.get(LOSS), torch.Tensor) and out[LOSS].ndim:
            out = {**out, LOSS: out[LOSS].sum()}
        return out

    return summed


def _shaped(backward: Callable, handed: dict, per_sample: bool) -> Callable:
    """The backward as the step's verification sees it, its own result kept in `handed`; per sample, a parameter's
    gradient of shape [1, *parameter] is the one sample's and is compared in the parameter's shape."""

    def shaped(fwd, **kw):
        grads = backward(fwd, **kw)
        handed.setdefault("grads", grads)  # the run's own call, not the float64 one that may follow
        if not per_sample or not isinstance(grads, Mapping):
            return grads
        return {
            k: g.reshape(kw[k].shape) if k in kw and isinstance(g, torch.Tensor) and g.shape == (1, *kw[k].shape) else g
            for k, g in grads.items()
        }

    return shaped


def _judge_update(step, now, g_auto, autograd, lr) -> Parting | None:
    """torch.optim.SGD's step against its formula p - lr·g, within the rounding of the update (MULTIPLIER · ½ε)."""
    for k, p in autograd.items():
        formula = now[k].add(g_auto[k], alpha=-lr)
        diff = (p.detach().to(torch.float64) - formula.to(torch.float64)).abs()
        allowed = MULTIPLIER * (rounding_bound(formula) + rounding_bound(lr * g_auto[k]))
        bad = ~(diff <= allowed)
        if bool(bad.any()):
            i = int(bad.reshape(-1).nonzero()[0])
            index = [int(j) for j in torch.unravel_index(torch.tensor(i), p.shape)] if p.ndim else []
            return Parting(
                step,
                k,
                index,
                float(formula.reshape(-1)[i]),
                float(p.detach().reshape(-1)[i]),
                float(allowed.reshape(-1)[i]),
                "torch.optim.SGD's update is not p - lr·g (its own settings?)",
            )
    return None


def _drift(forward, backward, drifting, batch, per_sample, lr, autograd, max_abs) -> None:
    """One free-running manual step, for the information in max_abs; never judged."""
    with torch.no_grad():
        try:
            g = backward(_forward(forward, drifting, batch, per_sample), **drifting, **batch)
            for k, p in drifting.items():
                p.add_(g[k].reshape(p.shape), alpha=-lr)
        except Exception:  # the drift is information only: a trajectory that cannot go on stops drifting
            return
    for k, p in drifting.items():
        d = (p.double() - autograd[k].detach().double()).abs()
        max_abs[k] = max(max_abs[k], float(d.max()) if d.numel() else 0.0)


def _unusable(grads, name: str, p: torch.Tensor, per_sample: bool, autograd: torch.Tensor, role: str) -> str:
    """Why the backward's dJ/d(name) cannot update p as it is ("" if it can): never reshaped or cast silently. A
    gradient that is not a tensor is a ChainUsageError, as verify_chain has it."""
    if not isinstance(grads, Mapping) or name not in grads or grads[name] is None:
        return "the backward returned no gradient for it"
    g = grads[name]
    tensor_or_usage_error(name, g, autograd)
    shapes = [tuple(p.shape)] + ([(1, *p.shape)] if per_sample else [])
    if tuple(g.shape) not in shapes:
        return f"the gradient has shape {list(g.shape)}, the {role} {list(p.shape)}"
    if g.dtype != p.dtype or g.device != p.device:
        return f"the gradient is {g.dtype} on {g.device}, the {role} {p.dtype} on {p.device}"
    if not bool(torch.isfinite(g).all()):
        return "the gradient is not finite (NaN or inf)"
    return ""


def _forward(forward: Callable, params: Mapping, batch: Mapping, per_sample: bool) -> dict:
    """One step's forward: per sample, one sample whose J may be a scalar or of shape [1] (a per-sample forward's)."""
    out = (
        call_forward(forward, params, batch, per_sample=False, samples=None)
        if not per_sample
        else forward(**params, **batch)
    )
    if per_sample:
        loss = out.get(LOSS) if isinstance(out, Mapping) else None
        if loss is None or loss.numel() != 1:
            call_forward(forward, params, batch, per_sample=True, samples=1)  # raises the usage error that says why
    return out
