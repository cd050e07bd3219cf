"""verify_training: the hand-written backward driving SGD, in lockstep with autograd + torch.optim.SGD.

manual:    p <- p - lr · backward(forward(p))[p]           (p.add_(g, alpha=-lr), rounded as optim.SGD rounds)
autograd: the same forward, loss.backward(), torch.optim.SGD(lr).step()
Both start from the same parameters and never see each other's; after every step each parameter is compared at its
dtype's assert_close tolerance, and the first (step, parameter) where they part is reported. per_sample=True
takes one sample per step, in order, `epochs` times over (the lesson's loop), and the forward may be a per-sample one
(J of shape [1] for the one sample; the backward's gradients of shape [1, *parameter]); otherwise each step sees
the batch.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from backprop_manual.check.graph import LOSS, ChainUsageError
from backprop_manual.check.oracle import call_forward
from backprop_manual.check.tolerances import tolerances


@dataclass(frozen=True)
class Parting:
    step: int  # counted from 0
    parameter: str
    index: list[int]
    manual: float
    autograd: float
    allowance: float
    problem: str = ""  # a gradient the step could not use (missing, not a tensor, shape, dtype, not finite)

    def __str__(self) -> str:
        at = f"[{', '.join(map(str, self.index))}]"
        if self.problem:
            return f"step {self.step}, parameter {self.parameter}: {self.problem}"
        return (
            f"step {self.step}, parameter {self.parameter}{at}: manual {self.manual:.10g} vs torch.optim.SGD "
            f"{self.autograd:.10g}, |diff| {abs(self.manual - self.autograd):.3g} > allowed {self.allowance:.3g}"
        )


@dataclass(frozen=True)
class TrainingReport:
    steps: int
    max_abs: dict[str, float]  # per parameter, over every step
    first: Parting | None
    manual: dict[str, torch.Tensor]  # the parameters at the end
    autograd: dict[str, torch.Tensor]

    @property
    def ok(self) -> bool:
        return self.first is None

    def summary(self) -> str:
        diffs = ", ".join(f"{p} {d:.3e}" for p, d in self.max_abs.items())
        verdict = "ok" if self.ok else f"MISMATCH, first at {self.first}"
        return f"training, {self.steps} steps, largest |manual - torch.optim.SGD|: {diffs}: {verdict}"

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
) -> TrainingReport:
    """Train both ways from `params` (left unchanged) and compare every step; see the module's docstring."""
    if not (lr > 0 and lr < float("inf")):
        raise ChainUsageError(f"lr must be a finite number > 0, not {lr}")
    inputs = dict(inputs or {})
    manual = {k: p.detach().clone() for k, p in params.items()}
    autograd = {k: p.detach().clone().requires_grad_(True) for k, p in params.items()}
    opt = torch.optim.SGD(list(autograd.values()), lr=lr)
    max_abs = dict.fromkeys(params, 0.0)
    first, step = None, 0
    for step, batch in enumerate(_batches(inputs, per_sample, epochs)):
        with torch.no_grad():
            fwd = _forward(forward, manual, batch, per_sample)
            grads = backward(fwd, **manual, **batch)
            unusable = next(((k, why) for k, p in manual.items() if (why := _unusable(grads, k, p, per_sample))), None)
            if unusable is not None:  # the step cannot be taken as derived: the training parts here
                k, why = unusable
                nan = float("nan")
                first = Parting(step, k, [], nan, nan, nan, why)
                return TrainingReport(step + 1, max_abs, first, manual, {k: p.detach() for k, p in autograd.items()})
            for k, p in manual.items():
                p.add_(grads[k].reshape(p.shape), alpha=-lr)  # per sample: [1, *shape] is the step's one sample
        opt.zero_grad()
        _forward(forward, autograd, batch, per_sample)[LOSS].sum().backward()
        opt.step()
        if first is None:
            first = _compare(step, manual, autograd, max_abs)
        else:
            _compare(step, manual, autograd, max_abs)
    return TrainingReport(step + 1, max_abs, first, manual, {k: p.detach() for k, p in autograd.items()})


def _unusable(grads, name: str, p: torch.Tensor, per_sample: bool) -> str:
    """Why the backward's dJ/d(name) cannot update p as it is ("" if it can): never reshaped or cast silently."""
    if not isinstance(grads, Mapping) or name not in grads:
        return "the backward returned no gradient for it"
    g = grads[name]
    if not isinstance(g, torch.Tensor):
        return f"the backward returned a {type(g).__name__}, not a tensor"
    shapes = [tuple(p.shape)] + ([(1, *p.shape)] if per_sample else [])
    if tuple(g.shape) not in shapes:
        return f"the gradient has shape {list(g.shape)}, the parameter {list(p.shape)}"
    if g.dtype != p.dtype or g.device != p.device:
        return f"the gradient is {g.dtype} on {g.device}, the parameter {p.dtype} on {p.device}"
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


def _compare(step: int, manual: dict, autograd: dict, max_abs: dict) -> Parting | None:
    parted = None
    for k, m in manual.items():
        r = autograd[k].detach()
        rtol, atol = tolerances(r.dtype)
        diff = (m.double() - r.double()).abs()
        max_abs[k] = max(max_abs[k], float(diff.max()) if diff.numel() else 0.0)
        bad = ~(diff <= atol + rtol * r.double().abs())
        if parted is None and bool(bad.any()):
            i = int(bad.reshape(-1).nonzero()[0])
            index = [int(j) for j in torch.unravel_index(torch.tensor(i), r.shape)] if r.ndim else []
            ref = float(r.reshape(-1)[i])
            parted = Parting(step, k, index, float(m.reshape(-1)[i]), ref, atol + rtol * abs(ref))
    return parted
