"""Verify the hand-derived gradients against autograd over samples, and say where and how they disagree."""

from collections.abc import Callable
from dataclasses import dataclass

import torch

from backprop_manual.compare import ChainReport, compare_chain
from backprop_manual.passes import Gradients, gradients
from backprop_manual.reference import autograd_gradients
from backprop_manual.triage import Triage, triage_divergence

GradientFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], Gradients]


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


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

    @property
    def ok(self) -> bool:
        return self.report.ok

    def assert_ok(self) -> None:
        """Raise AssertionError with the message (first divergence, then the table) unless all agree."""
        __tracebackhide__ = True  # pytest shows the test's line, not this one
        if not self.ok:
            raise AssertionError(self.message())

    def where(self) -> str:
        return f"w = {float(self.w):.6g}, b = {float(self.b):.6g}, on {self.X.device} in {dtype_name(self.X.dtype)}"

    def sample(self, pos: int) -> str:
        return f"sample {self.ids[pos]} (x = mean_area = {float(self.X[pos]):.6g}, y = is_cancerous = {float(self.y[pos]):g})"

    def triage(self) -> Triage | None:
        """Which side the third witness says is wrong at the first divergence; None when all agree."""
        first = self.report.first_divergence
        return None if first is None else triage_divergence(first, self.w, self.X, self.b, self.y, self.manual_fn)

    def message(self) -> str:
        """The first divergent intermediate, on which sample, how far, against what allowance; the witness's
        triage; then the table."""
        first = self.report.first_divergence
        if first is None:
            return f"all intermediates agree over {len(self.ids)} samples, {self.where()}\n{self.table()}"
        return (
            f"{first.name} ({first.symbol}) is the first intermediate to diverge, at {self.sample(first.at)}, "
            f"{self.where()}: manual {first.manual:.8g} vs autograd {first.autograd:.8g}, "
            f"|diff| {abs(first.manual - first.autograd):.3g}, allowed {first.allowance:.3g}"
            f"{'' if first.problem.startswith('Tensor-likes are not close') else ' (' + first.problem + ')'}\n"
            f"  {self.triage()}\n" + self.table()
        )

    def table(self) -> str:
        """One row per intermediate: differences, allowance, ULPs against the budget, headroom, sample, verdict.

        headroom = min over samples of allowance / |diff|: by how much the difference may grow and still pass.
        """
        rows = [
            f"  {'intermediate':<21}{'':7}{'max |diff|':>11}{'max rel':>11}{'allowance':>11}{'ulp/budget':>12}"
            f"{'headroom':>10}  {'at':<12}status"
        ]
        for r in self.report.rows:
            status = "ok" if r.ok else "MISMATCH" + ("  <- first" if r is self.report.first_divergence else "")
            ulps = f"{r.max_ulp:.3g}/{r.ulp_budget:g}"
            rows.append(
                f"  {r.name:<21}{r.symbol:<7}{r.abs_diff:>11.3e}{r.rel_diff:>11.3e}{r.allowance:>11.3e}{ulps:>12}"
                f"{r.headroom:>10.3g}  {'sample ' + str(self.ids[r.at]):<12}{status}"
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
    reference: GradientFn = autograd_gradients,
) -> Verification:
    """manual(w, x, b, y) vs reference(w, x, b, y) for every sample of X, every intermediate, in chain order."""
    X, y = X.reshape(-1), y.reshape(-1)
    m, a = manual(w, X, b, y), reference(w, X, b, y)
    ids = list(ids) if ids is not None else list(range(X.numel()))
    return Verification(m, a, compare_chain(m, a), w, b, X, y, ids, manual)
