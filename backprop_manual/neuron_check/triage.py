"""A third witness, independent of the hand-derived chain rule and of autograd alike.

complex step, in complex128:  dJ/dv = Im J(v + i·h) / h   for each node v in (sigma, z, w, b)
    J = (sigmoid(w·x + b) - y)^2 is holomorphic in every node, so nothing is subtracted: the result is exact to
    rounding (the truncation error is h^2 · J'''/6, with h = 1e-20 far below it), and there is no step to tune.
gradcheck, in float64:  torch.autograd.gradcheck's central differences (J(v + eps) - J(v - eps)) / 2 eps against a
    torch.autograd.Function whose backward IS the hand-derived gradient function: it checks our derivation, not
    torch's. One intermediate at a time, in chain order, so that its failure names the intermediate.
"""

import re
from dataclasses import dataclass

import torch
from torch.autograd.gradcheck import GradcheckError

from backprop_manual.check.compare import Row
from backprop_manual.check.tolerances import tolerances
from backprop_manual.neuron.passes import CHAIN, Gradients, gradients

# h: any power of 2 (so that ·h and /h are exact) with h^2 far below float64's 2^-53 relative resolution and
# h·|dJ/dv| above the subnormals; 2^-66 ~ 1.4e-20.
STEP = 2.0**-66


def _cost(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """J = (sigma - y)^2, written as a product: complex pow(2) goes through exp(2 log z), which is not exact"""
    return (y_hat - y) * (y_hat - y)


def complex_step_gradients(w: torch.Tensor, x: torch.Tensor, b: torch.Tensor, y: torch.Tensor) -> Gradients:
    """dJ/dv = Im J(v + i·h) / h at sigma, z, w and b for each sample of x, as float64 (inputs taken exactly)."""
    w, x, b, y = (t.detach().to(torch.float64) for t in (w, x, b, y))
    z = w * x + b
    sigma = torch.sigmoid(z)
    # keeps Im z = h·x as small for a large x: the step is small at the node, still a power of 2
    h_w = STEP / torch.exp2(torch.frexp(x.abs().clamp(min=1.0)).exponent.to(torch.float64))
    at_sigma = _cost(sigma + 1j * STEP, y).imag / STEP
    at_z = _cost(torch.sigmoid(z + 1j * STEP), y).imag / STEP
    at_w = _cost(torch.sigmoid((w + 1j * h_w) * x + b), y).imag / h_w
    at_b = _cost(torch.sigmoid(w * x + (b + 1j * STEP)), y).imag / STEP
    return Gradients(at_sigma, at_z, at_w, at_b)


class _ManualNeuron(torch.autograd.Function):
    """J(w, b, dz, dsigma) = (sigmoid(w·x + b + dz) + dsigma - y)^2, whose backward is `manual`'s gradients

    dz and dsigma are offsets at 0: dJ/d(dz) = dJ/dz and dJ/d(dsigma) = dJ/dsigma there, which is where gradcheck
    asks for the backward (its perturbations only go through the forward).
    """

    @staticmethod
    def forward(ctx, w, b, dz, dsigma, x, y, manual):
        ctx.save_for_backward(w, b, x, y)
        ctx.manual = manual
        return _cost(torch.sigmoid(w * x + b + dz) + dsigma, y)

    @staticmethod
    def backward(ctx, grad):
        w, b, x, y = ctx.saved_tensors
        g = ctx.manual(w, x, b, y)
        return (
            grad * g.delta_J_delta_w,
            grad * g.delta_J_delta_b,
            grad * g.delta_J_delta_z,
            grad * g.delta_J_delta_sigma,
            None,
            None,
            None,
        )


def _one_line(message: str) -> str:
    """gradcheck's "Jacobian mismatch for output 0 with respect to input 0,\nnumerical:tensor([[-0.2497]], ...)\n
    analytical:tensor([[-0.5000]], ...)" as "Jacobian mismatch: numerical -0.2497, analytical -0.5000" (a Jacobian of
    several samples is flattened row by row)."""
    found = dict(re.findall(r"(numerical|analytical):tensor\((.*?)(?:,\s*dtype=[^)]*)?\)", message, re.S))
    if len(found) < 2:
        return " ".join(message.split())
    numerical, analytical = (" ".join(re.sub(r"[\[\]]", "", found[k]).split()) for k in ("numerical", "analytical"))
    return f"Jacobian mismatch: numerical {numerical}, analytical {analytical}"


_INPUT_OF = {"delta_J_delta_w": 0, "delta_J_delta_b": 1, "delta_J_delta_z": 2, "delta_J_delta_sigma": 3}


def gradcheck_intermediates(
    w: torch.Tensor, x: torch.Tensor, b: torch.Tensor, y: torch.Tensor, manual=gradients
) -> dict[str, str]:
    """For each intermediate in chain order: "" when gradcheck (float64, its defaults) passes `manual`'s value,
    else gradcheck's message on one line. One w and b per sample, so that each sample is its own function."""
    x, y = x.detach().reshape(-1), y.detach().reshape(-1)  # constants: w and b in float64 promote the rest
    w, b = (t.detach().to(torch.float64).expand(x.shape).clone() for t in (w, b))
    verdicts = {}
    for name in CHAIN:
        inputs = [w.clone(), b.clone(), torch.zeros_like(w), torch.zeros_like(w)]  # float64 offsets
        inputs[_INPUT_OF[name]].requires_grad_(True)
        try:
            torch.autograd.gradcheck(lambda *v: _ManualNeuron.apply(*v, x, y, manual), inputs)
            verdicts[name] = ""
        except GradcheckError as e:
            verdicts[name] = _one_line(str(e))
    return verdicts


# Triage: where manual and autograd disagree, ask the third witness which side is wrong.
#
# off_manual = |manual - witness|,  off_autograd = |autograd - witness|   (witness: the complex step, complex128)
# the side that is at least SIDING times farther from the witness than the other is the wrong one; neither, and the
# witness cannot tell them apart ("undecided"). gradcheck of the manual chain rule (float64) is reported beside it.

# Why 4: the side the witness sides with must be clearly nearer, not by a rounding. Correct sides sit within
# 10 ULP of the witness (measured, tests/neuron_check/test_triage.py), while a disagreement that fails the
# verification is over 8 ULP (the budget) apart; a factor 4 keeps a rounding-level tie "undecided" rather than guessed.
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
