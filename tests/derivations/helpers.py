"""What the derivation tests share: the parameter points, planted mistakes as edits of a correct backward, the
assertion that a mistake is blamed on the right gradient first."""

import math

import pytest
import torch

from backprop_manual.check import ChainReport, verify_chain
from backprop_manual.check.compare import LESSON, symbol
from backprop_manual.pytest_plugin import DTYPES as WIDE
from backprop_manual.pytest_plugin import LOW as NARROW

POINTS = [pytest.param(None, id="example"), pytest.param(1, id="seed1")]
# The derivation tests' own dtypes, where a test names them (parametrize("dtype", DTYPES)): the plugin's float32 and
# float64, and bfloat16 and float16 by default too (opt-in in the plugin, for other projects' tests; here the 16-bit
# cases are what the error model's float64 re-run is for). --dtype X still selects X alone (conftest.py).
DTYPES = [pytest.param(d, id=n) for n, d in (WIDE | NARROW).items()]
LOW = [pytest.param(d, id=n) for n, d in NARROW.items()]


def perturbed(params: dict, seed: int | None) -> dict:
    """The example's parameters (seed None), or each moved by 0.5·N(0, 1), drawn in float64 from a seeded generator
    and rounded to the parameter's dtype and device, so that every dtype and device sees the same point."""
    if seed is None:
        return params
    g = torch.Generator().manual_seed(seed)
    return {k: p + (0.5 * torch.randn(p.shape, generator=g, dtype=torch.float64)).to(p) for k, p in params.items()}


def as_mathematics(module, dtype, device="cpu"):
    """The example's point, in bfloat16 and float16 upcast to float64: a step-by-step forward rounds every step to
    16 bits where torch's fused op keeps float32 inside (several ULPs apart, 2e-3 in LayerNorm); that two forwards
    compute the same function is a question of their mathematics, asked in float64 on the same values, as the
    verifier asks it (docs/precision.md). float32 and float64 as they are."""
    params, inputs = module.example(dtype, device)
    if torch.finfo(dtype).bits > 16:
        return params, inputs
    up = {
        k: v.to(torch.float64) if isinstance(v, torch.Tensor) and v.is_floating_point() else v
        for k, v in inputs.items()
    }
    return {k: v.to(torch.float64) for k, v in params.items()}, up


def point(module, dtype, device, seed: int | None):
    """The example's point, the parameters and the checked inputs (CHECK_INPUTS, the layer's x) moved together."""
    params, inputs = module.example(dtype, device)
    checked = {k: inputs[k] for k in getattr(module, "CHECK_INPUTS", ())}
    moved = perturbed({**checked, **params}, seed)
    return {k: moved[k] for k in params}, {**inputs, **{k: moved[k] for k in checked}}


def changed(backward, **replace):
    """The correct backward, then the named gradients recomputed by `replace[name](grads, fwd, **params, **inputs)`
    (the later ones see the earlier replacements, so a mistake can flow down the chain)."""

    def wrong(fwd, **args):
        g = backward(fwd, **args)
        for name, fn in replace.items():
            g[name] = fn(g, fwd, **args)
        return g

    return wrong


def verify(module, backward, params, inputs, forward=None) -> ChainReport:
    """verify_chain as the command runs the module: its PER_SAMPLE and CHECK_INPUTS, if it has them; on the module's
    forward, or on `forward`, another of its forms (forward_fused)."""
    return verify_chain(
        forward or module.forward,
        backward,
        params,
        inputs,
        per_sample=getattr(module, "PER_SAMPLE", False),
        check_inputs=getattr(module, "CHECK_INPUTS", ()),
    )


def assert_blamed(report: ChainReport, name: str, status: str) -> None:
    """The report fails, `name` is its first divergence with `status`, every row before it agrees, and the message
    starts with the name and its label: the lesson's delta_J_delta_z in the lesson's neuron, else the name itself."""
    __tracebackhide__ = True
    first = report.first_divergence
    assert first is not None, f"the planted mistake went unnoticed:\n{report.message()}"
    assert (first.name, first.status) == (name, status), report.message()
    assert all(r.ok for r in report.rows[: report.rows.index(first)]), "every row before the first agrees"
    lesson = {r.name for r in report.rows} <= set(LESSON)
    labelled = f"{name} (delta_J_delta_{name}, {symbol(name)})" if lesson else f"{name} ({symbol(name)})"
    assert first.label == (f"delta_J_delta_{name}" if lesson else name), first.label
    assert report.message().startswith(f"{labelled} is the first gradient in chain order to diverge"), report.message()


def moved(report, params: dict) -> float:
    """How far training took the parameters: the largest |end - start| over every element."""
    return max(float((report.manual[k] - params[k]).abs().max()) for k in params)


def below_h(backward, local, d_h=lambda fwd, g: g["h"]):
    """A hidden layer's backward (derivations/hidden.py) right down to dJ/dh, then a (wrong) dJ/dh or a (wrong)
    local derivative dh/dz1 = local(z1, h), flowing on into dJ/dz1, dJ/dW1 and dJ/db1 as it would in the code."""

    def wrong(fwd, **args):
        g = backward(fwd, **args)
        g["h"] = d_h(fwd, g)
        g["z1"] = local(fwd["z1"], fwd["h"]) * g["h"]
        return {**g, "W1": args["X"].T @ g["z1"], "b1": g["z1"].sum(0)}

    return wrong


def exact_gelu_local(x):
    """d/dx of the exact GELU x Φ(x) = Φ(x) + x φ(x), the erf form's: a planted mistake for the tanh form's"""
    return 0.5 * (1 + torch.erf(x / math.sqrt(2))) + x * torch.exp(-(x**2) / 2) / math.sqrt(2 * math.pi)
