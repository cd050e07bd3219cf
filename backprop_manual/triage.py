"""Triage: where manual and autograd disagree, ask the third witness which side is wrong.

off_manual = |manual - witness|,  off_autograd = |autograd - witness|   (witness: the complex step, complex128)
the side that is at least SIDING times farther from the witness than the other is the wrong one; neither, and the
witness cannot tell them apart ("undecided"). gradcheck of the manual chain rule (float64) is reported beside it.
"""

from dataclasses import dataclass

import torch

from backprop_manual.compare import Row
from backprop_manual.tolerances import tolerances
from backprop_manual.witness import complex_step_gradients, gradcheck_intermediates

# Why 4: the side the witness sides with must be clearly nearer, not by a rounding. Correct sides sit within
# 10 ULP of the witness (measured, tests/test_witness.py), while a disagreement that fails the verification is
# over 8 ULP (the budget) apart; a factor 4 keeps a rounding-level tie "undecided" rather than guessed.
SIDING = 4.0


@dataclass(frozen=True)
class Triage:
    name: str  # the intermediate triaged: the first to diverge
    manual: float
    autograd: float
    witness: float  # the complex step's dJ/d(name) at that sample, float64
    allowance: float  # the dtype's atol + rtol·|witness|
    gradcheck: dict[str, str]  # per intermediate: "" passes, else gradcheck's message

    @property
    def off_manual(self) -> float:
        return abs(self.manual - self.witness)

    @property
    def off_autograd(self) -> float:
        return abs(self.autograd - self.witness)

    @property
    def wrong(self) -> str:
        """ "manual", "autograd" or "undecided": the side the witness says is wrong."""
        if self.off_manual > SIDING * self.off_autograd:
            return "manual"
        if self.off_autograd > SIDING * self.off_manual:
            return "autograd"
        return "undecided"

    def __str__(self) -> str:
        offs = f"manual is {self.off_manual:.3g} from it, autograd {self.off_autograd:.3g}"
        if self.wrong == "undecided":
            verdict = "the witness cannot tell which side is wrong"
        else:
            right = "autograd" if self.wrong == "manual" else "manual"
            verdict = f"the {self.wrong} side is wrong"
            if abs(getattr(self, right) - self.witness) > self.allowance:
                verdict += f" (and {right} too is off by more than the allowed {self.allowance:.3g})"
        failed = [n for n, problem in self.gradcheck.items() if problem]
        checked = (
            f"gradcheck of the manual chain rule (float64 central differences) first fails at {failed[0]}: "
            f"{self.gradcheck[failed[0]]}"
            if failed
            else "gradcheck of the manual chain rule (float64 central differences, rtol 1e-3) passes every "
            "intermediate there"
        )
        return (
            f"triage: the witness (complex step, complex128) gives {self.name} = {self.witness:.10g}; {offs}: "
            f"{verdict}. {checked}"
        )


def triage_divergence(row: Row, w: torch.Tensor, x: torch.Tensor, b: torch.Tensor, y: torch.Tensor, manual) -> Triage:
    """Triage `row` (a divergent intermediate) at its sample `row.at` of x, y; `manual` is the gradient function."""
    at = [row.at]  # a list index keeps the sample dimension
    witness = float(getattr(complex_step_gradients(w, x[at], b, y[at]), row.label)[0])
    rtol, atol = tolerances(x.dtype)
    return Triage(
        name=row.label,
        manual=row.manual,
        autograd=row.autograd,
        witness=witness,
        allowance=atol + rtol * abs(witness),
        gradcheck=gradcheck_intermediates(w, x[at], b, y[at], manual),
    )
