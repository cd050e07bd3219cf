"""A third witness, independent of the hand-derived chain rule and of autograd alike.

complex step, in complex128:  dJ/dv = Im J(v + i·h) / h   for each node v in (sigma, z, w, b)
    J = (sigmoid(w·x + b) - y)^2 is holomorphic in every node, so nothing is subtracted: the result is exact to
    rounding (the truncation error is h^2 · J'''/6, with h = 1e-20 far below it), and there is no step to tune.
gradcheck, in float64:  torch.autograd.gradcheck's central differences (J(v + eps) - J(v - eps)) / 2 eps against a
    torch.autograd.Function whose backward IS the hand-derived gradient function: it checks our derivation, not
    torch's. One intermediate at a time, in chain order, so that its failure names the intermediate.
"""

import re

import torch
from torch.autograd.gradcheck import GradcheckError

from backprop_manual.passes import CHAIN, Gradients, gradients

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
