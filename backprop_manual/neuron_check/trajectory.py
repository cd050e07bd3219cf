"""The lesson's closing PyTorch loop as a reference: torch.nn + MSELoss + torch.optim.SGD, one sample per step.

(The lesson's snippet feeds `X_tensor`, the whole data set, to `net` at every step: erratum. Here each step sees
its own sample.)
"""

import math
from dataclasses import dataclass

import torch

from backprop_manual.check.compare import counted
from backprop_manual.check.tolerances import tolerances
from backprop_manual.neuron.loop import Descent, check_neuron_inputs


def nn_sgd_descent(
    w: torch.Tensor,
    b: torch.Tensor,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    eta: float = 1e-4,
    epochs: int = 20,
    trajectory: bool = False,
) -> Descent:
    """net = Linear(1, 1) then Sigmoid, starting at (w, b); per sample: zero_grad, forward, backward, step."""
    check_neuron_inputs(w, b, X, y)
    net = torch.nn.Sequential(torch.nn.Linear(1, 1, device=X.device, dtype=X.dtype), torch.nn.Sigmoid())
    linear = net[0]
    with torch.no_grad():
        linear.weight.copy_(w)
        linear.bias.copy_(b)
    criterion = torch.nn.MSELoss(reduction="sum")  # one sample: sum = mean = J
    opt = torch.optim.SGD(net.parameters(), lr=eta)
    steps = X.new_empty((epochs, X.shape[0], 3)) if trajectory else None
    samples = list(zip(X.reshape(-1, 1, 1).unbind(), y.to(X.dtype).reshape(-1, 1, 1).unbind()))
    for epoch in range(epochs):
        for i, (x_i, y_i) in enumerate(samples):
            opt.zero_grad()
            y_hat = net(x_i)  # [1, 1]: one sample
            loss = criterion(y_hat, y_i)
            loss.backward()
            opt.step()
            if steps is not None:
                with torch.no_grad():
                    steps[epoch, i, 0], steps[epoch, i, 1], steps[epoch, i, 2] = linear.weight, linear.bias, loss
    return Descent(linear.weight.detach().reshape(()).clone(), linear.bias.detach().reshape(()).clone(), steps)


# Compare two training trajectories step by step and name the first (epoch, sample, parameter) that diverges.
#
# A non-finite value is never agreement. Where one loop leaves the finite range and the other does not, the loops
# disagree: a divergence. Where both leave it at the same step (an overflow from finite inputs, e.g. a learning rate
# too large for the dtype: inf == inf is no evidence), nothing from there on can be compared: the report says
# `overflow`, the steps before it are compared, and the command exits 2 (not verified), never 0 or 1 for it.

PARAMETERS = ("w", "b")  # columns 0 and 1 of a trajectory; column 2 is J


@dataclass(frozen=True)
class Divergence:
    epoch: int
    sample: int  # position in the epoch
    parameter: str
    manual: float
    autograd: float  # the torch.nn + SGD loop's, autograd's side
    allowance: float

    def __str__(self) -> str:
        where = f"epoch {self.epoch}, sample {self.sample}, parameter {self.parameter}"
        values = f"manual {self.manual:.10g} vs autograd {self.autograd:.10g}"
        if not (math.isfinite(self.manual) and math.isfinite(self.autograd)):
            return f"{where}: {values}, not finite"
        return f"{where}: {values}, |diff| {abs(self.manual - self.autograd):.3g} > allowed {self.allowance:.3g}"


@dataclass(frozen=True)
class TrajectoryReport:
    steps: int
    max_abs: dict[str, float]  # per parameter, over the steps compared (all of them, or those before an overflow)
    first: Divergence | None  # the first step where the loops disagree
    overflow: Divergence | None = None  # the step where both loops left the finite range together, if no divergence

    @property
    def ok(self) -> bool:
        return self.first is None and self.overflow is None

    @property
    def status(self) -> str:
        return "MISMATCH" if self.first is not None else "overflow" if self.overflow is not None else "ok"

    def summary(self) -> str:
        diffs = ", ".join(f"max |diff| {p} {d:.3e}" for p, d in self.max_abs.items())
        if self.first is not None:
            verdict = f"MISMATCH, first at {self.first}"
        elif self.overflow is not None:
            o = self.overflow
            verdict = (
                f"not verified: both loops overflowed at epoch {o.epoch}, sample {o.sample}, parameter "
                f"{o.parameter} (manual {o.manual:g}, autograd {o.autograd:g}); no step from there on is compared"
            )
        else:
            verdict = "ok"
        return f"trajectory, {counted(self.steps, 'step')}: {diffs}: {verdict}"


def compare_trajectories(manual: torch.Tensor, autograd: torch.Tensor) -> TrajectoryReport:
    """manual, autograd (the torch.nn + SGD loop's): [epochs, N, 3] of (w, b, J) after every step; w and b compared
    at the dtype's tolerance."""
    rtol, atol = tolerances(autograd.dtype)
    m = manual.detach().to(device=autograd.device, dtype=torch.float64).reshape(autograd.shape)[..., :2]
    r = autograd.detach().to(torch.float64)[..., :2]
    finite_m, finite_r = torch.isfinite(m), torch.isfinite(r)
    bad = ~torch.isclose(m, r, rtol=rtol, atol=atol) | ~finite_m | ~finite_r  # isclose(inf, inf) is True
    together = ((m == r) & ~finite_m) | (m.isnan() & r.isnan())  # the same inf (not +inf vs -inf) or NaN on both
    if manual.dtype != autograd.dtype:
        bad |= True  # a trajectory in another dtype is a divergence from the first step
    first = overflow = None
    compared = m.shape[0] * m.shape[1]  # steps, epoch-major
    if bad.any():
        epoch, sample = (int(i) for i in bad.nonzero()[0][:2])  # the first step with any bad parameter
        for p, name in enumerate(PARAMETERS):
            if not bad[epoch, sample, p]:
                continue
            mv, ref = float(m[epoch, sample, p]), float(r[epoch, sample, p])
            found = Divergence(epoch, sample, name, mv, ref, atol + rtol * abs(ref))
            if together[epoch, sample, p] and manual.dtype == autograd.dtype:  # both left the range together
                overflow = overflow or found
            else:  # a disagreement at this step outranks an overflow beside it
                first = found
                break
        if first is not None:
            overflow = None
        else:
            compared = epoch * m.shape[1] + sample
    diff = torch.where(together, 0.0, (m - r).abs()).reshape(-1, 2)[:compared]  # together: nothing to measure
    max_abs = {p: float(diff[:, k].max()) if compared else 0.0 for k, p in enumerate(PARAMETERS)}
    return TrajectoryReport(int(m.shape[0] * m.shape[1]), max_abs, first, overflow)
