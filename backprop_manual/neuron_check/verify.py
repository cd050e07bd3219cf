"""The autograd oracle for one neuron, built from torch's own ops only (never from this package's functions).

    z = w·x + b   (torch's *, +);   sigma = torch.sigmoid(z);   J = F.mse_loss(sigma, y, reduction="none")
verify_gradients hands it to the chain verifier's oracle (check/oracle.py) in per-sample mode: each sample's own
dJ/dw and dJ/db by torch.func.vmap(torch.func.grad(J_i)). autograd_gradients asks the same oracle with the
per-sample-leaf trick instead, w and b expanded to one leaf per sample, so that w and b may also be given one per
sample (a point per sample): one torch.autograd.grad of the summed cost, bit for bit the same gradients
(tests/neuron_check/test_triage.py).
"""

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from backprop_manual.check.chain import ChainReport, verify_chain
from backprop_manual.check.compare import Row, compare_tensor, counted
from backprop_manual.check.oracle import autograd_oracle
from backprop_manual.neuron import passes
from backprop_manual.neuron.passes import CHAIN, Gradients, gradients
from backprop_manual.neuron_check.triage import Triage, triage_divergence


def oracle_forward(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """z = w·x + b, sigma = sigmoid(z), J = (sigma - y)^2 per sample, in torch's own ops"""
    z = w * x + b
    sigma = torch.sigmoid(z)
    return {"z": z, "sigma": sigma, "loss": F.mse_loss(sigma, y.to(sigma.dtype), reduction="none")}


def autograd_gradients(w: torch.Tensor, x: torch.Tensor, b: torch.Tensor, y: torch.Tensor) -> Gradients:
    """autograd's dJ/dsigma, dJ/dz, dJ/dw, dJ/db for each sample of x (0-d or 1-D)"""
    shape = x.shape
    x, y = x.reshape(-1), y.reshape(-1)
    leaves = {"w": w.detach().expand(x.shape), "b": b.detach().expand(x.shape)}  # one leaf per sample
    g = autograd_oracle(summed_forward, leaves, {"x": x, "y": y}, per_sample=False, samples=None)
    return Gradients(*(g.gradients[n].reshape(shape) for n in ("sigma", "z", "w", "b")))


def summed_forward(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """oracle_forward with J summed over the samples, which do not interact: d(sum J)/dz_i = dJ_i/dz_i"""
    out = oracle_forward(w, b, x, y)
    return {**out, "loss": out["loss"].sum()}


# The neuron's gradients compared in chain order by the chain verifier's own rows (check/compare.py).
#
# The neuron's chain is sigma, z, w, b: dJ/dsigma -> dJ/dz -> dJ/dw, dJ/db, each row named by the lesson
# (delta_J_delta_z, dJ/dz). Its samples are independent, so each row is compared per sample: no rounding floor is
# shared between samples (check/floor.py gives a scalar per sample none), and `at` is the sample's position.

NAMES = dict(zip(CHAIN, ("sigma", "z", "w", "b"), strict=True))  # Gradients field -> the chain's name


def compare_intermediate(field: str, manual: torch.Tensor, autograd: torch.Tensor) -> Row:
    """One of the neuron's rows, by its lesson name (delta_J_delta_z), over the samples of manual and autograd."""
    return compare_tensor(NAMES[field], manual, autograd, per_sample=True)


def compare_chain(manual: Gradients, autograd: Gradients) -> ChainReport:
    """Every intermediate of the chain, in chain order, none skipped after a failure."""
    rows = [compare_intermediate(f, getattr(manual, f), getattr(autograd, f)) for f in CHAIN]
    return ChainReport(
        rows,
        {NAMES[f]: getattr(manual, f) for f in CHAIN},
        {NAMES[f]: getattr(autograd, f) for f in CHAIN},
        autograd.delta_J_delta_z.dtype,
        autograd.delta_J_delta_z.device,
        params=("w", "b"),
    )


# Verify the hand-derived gradients against autograd over samples, and say where and how they disagree.

GradientFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], Gradients]


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def lesson_forward(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """The lesson's forward (linear_fn, activation_fn, cost_fn) as a chain: z, sigma, J per sample"""
    fp = passes.forward(w, x, b, y)
    return {"z": fp.z, "sigma": fp.y_hat, "loss": fp.J}


def lesson_backward(manual: "GradientFn"):
    """The hand-derived backward as a chain's: dJ/d(name) by name. The default is the lesson's own backward pass
    (upstream × local derivative) on the lesson's forward values; another GradientFn is called as it is."""

    def backward(fwd, w, b, x, y):
        if manual is gradients:
            g = passes.backward(x, y, passes.Forward(fwd["z"], fwd["sigma"], fwd["loss"]))
        else:
            g = manual(w, x, b, y)
        return {NAMES[f]: getattr(g, f) for f in CHAIN}

    return backward


@dataclass(frozen=True)
class Verification:
    manual: Gradients
    autograd: Gradients
    report: ChainReport
    w: torch.Tensor
    b: torch.Tensor
    X: torch.Tensor  # [N]
    y: torch.Tensor  # [N]
    ids: list[int]  # the data set's index of each sample position
    manual_fn: GradientFn = gradients  # what computed `manual`: the triage's gradcheck checks it
    feature: str = "mean_area"  # the names of x and y in messages: the CSV's own columns
    target: str = "is_cancerous"

    @property
    def ok(self) -> bool:
        return self.report.ok

    def select(self, idx: list[int]) -> "Verification":
        """The same verification over the samples at idx only, in that order: its rows compare just those."""
        manual, autograd = (Gradients(*(g[idx] for g in side)) for side in (self.manual, self.autograd))
        return replace(
            self,
            manual=manual,
            autograd=autograd,
            report=compare_chain(manual, autograd),
            X=self.X[idx],
            y=self.y[idx],
            ids=[self.ids[i] for i in idx],
        )

    def deciding(self) -> list[int]:
        """The samples whose values decide some row (compare.py's Row.deciding): the rest may go."""
        return sorted(set().union(*(r.deciding for r in self.report.rows)))

    def assert_ok(self) -> None:
        """Raise AssertionError with the message (first divergence, then the table) unless all agree."""
        __tracebackhide__ = True  # pytest shows the test's line, not this one
        if not self.ok:
            raise AssertionError(self.message())

    def where(self) -> str:
        return f"w = {float(self.w):.6g}, b = {float(self.b):.6g}, on {self.X.device} in {dtype_name(self.X.dtype)}"

    def sample(self, pos: int) -> str:
        x, y = float(self.X[pos]), float(self.y[pos])
        return f"sample {self.ids[pos]} (x = {self.feature} = {x:.6g}, y = {self.target} = {y:g})"

    def triage(self) -> Triage | None:
        """Which side the third witness says is wrong at the first divergence; None when all agree."""
        first = self.report.first_divergence
        return None if first is None else triage_divergence(first, self.w, self.X, self.b, self.y, self.manual_fn)

    def message(self) -> str:
        """The first divergent intermediate, on which sample, how far, against what allowance; the witness's
        triage; then the table."""
        first = self.report.first_divergence
        if first is None:
            return f"all intermediates agree over {counted(len(self.ids), 'sample')}, {self.where()}\n{self.table()}"
        notes = "".join(f"  note: {n}\n" for n in self.report.notes)
        triage = (
            self.triage()
            if first.status in ("MISMATCH", "not finite", "shape") and first.manual == first.manual  # NaN: unmeasured
            else f"triage: not needed: a {first.status} problem, not a question of which side computes right"
        )
        return (
            f"{first.label} ({first.symbol}) is the first intermediate to diverge, at {self.sample(first.at)}, "
            f"{self.where()}: manual {first.manual:.8g} vs autograd {first.autograd:.8g}, "
            f"|diff| {abs(first.manual - first.autograd):.3g}, allowed {first.allowance:.3g}"
            f"{'' if first.status == 'MISMATCH' else ' (' + first.problem + ')'}\n"
            f"  {triage}\n{notes}" + self.table()
        )

    def table(self) -> str:
        """One row per intermediate, every number at the sample shown (the first out of its allowance, else the
        nearest to it): |diff|, |diff| / |autograd|, the allowance and autograd's uncertainty u (allowed = 8 u:
        check/model.py), the ratio |diff| / allowed, the sample, the verdict."""
        rows = [
            f"  {'intermediate':<21}{'':7}{'|diff|':>11}{'rel':>11}{'allowed':>11}{'u':>11}{'ratio':>9}"
            f"  {'at':<12}status"
        ]
        for r in self.report.rows:
            status = "ok" if r.ok else "MISMATCH" + ("  <- first" if r is self.report.first_divergence else "")
            rows.append(
                f"  {r.label:<21}{r.symbol:<7}{r.diff:>11.3e}{r.rel:>11.3e}{r.allowance:>11.3e}"
                f"{r.uncertainty:>11.3e}{r.ratio_at:>9.3g}  {'sample ' + str(self.ids[r.at]):<12}{status}"
            )
        return "\n".join(rows)


def verify_gradients(
    w: torch.Tensor,
    b: torch.Tensor,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    ids: list[int] | None = None,
    manual: GradientFn = gradients,
    autograd: GradientFn = autograd_gradients,
) -> Verification:
    """manual(w, x, b, y) vs autograd(w, x, b, y) for every sample of X, every intermediate, in chain order.

    With the default oracle this is verify_chain in per-sample mode: the lesson's forward and the hand-derived
    backward against autograd on a forward of torch's own ops (oracle_forward). Another oracle (a
    deliberately wrong oracle, in the tests of the tests) is compared with the same rows."""
    X, y = X.reshape(-1), y.reshape(-1)
    ids = list(ids) if ids is not None else list(range(X.numel()))
    if autograd is autograd_gradients:
        report = verify_chain(
            lesson_forward,
            lesson_backward(manual),
            {"w": w, "b": b},
            {"x": X, "y": y},
            per_sample=True,
            oracle=oracle_forward,
            escalate=False,  # the rounding bound suffices (3 roundings a side, tests/check/test_tolerances.py)
        )
        m, a = (Gradients(*(side[NAMES[f]] for f in CHAIN)) for side in (report.manual, report.autograd))
    else:
        m, a = manual(w, X, b, y), autograd(w, X, b, y)
        report = compare_chain(m, a)
    return Verification(m, a, report, w, b, X, y, ids, manual)
