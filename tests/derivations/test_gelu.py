"""derivations/gelu.py: GELU's tanh approximation, step by step (x's two uses added) and fused (llm.c's)."""

import pytest
import torch
import torch.nn.functional as F

from backprop_manual.check import verify_chain, verify_training
from backprop_manual.derivations import gelu
from tests.derivations.helpers import (
    DTYPES,
    POINTS,
    as_mathematics,
    assert_blamed,
    changed,
    exact_gelu_local,
    moved,
    point,
)

right = gelu.backward


STEP_BY_STEP = {
    # x feeds u and out: the second gradient written over the first
    "x-fan-out-overwritten": (changed(right, x=lambda g, fwd, x, **a: gelu.K * (1 + 3 * gelu.A * x**2) * g["u"]), "x"),
    "tanh'-as-1-t": (changed(right, u=lambda g, fwd, **a: (1 - fwd["t"]) * g["t"]), "u"),
    "missing-1/2": (changed(right, t=lambda g, fwd, x, **a: x * g["out"]), "t"),
    "cubic-term-derivative-dropped": (
        changed(right, x=lambda g, fwd, x, **a: 0.5 * (1 + fwd["t"]) * g["out"] + gelu.K * g["u"]),
        "x",
    ),
    "missing-sqrt(2/pi)": (
        changed(right, x=lambda g, fwd, x, **a: 0.5 * (1 + fwd["t"]) * g["out"] + (1 + 3 * gelu.A * x**2) * g["u"]),
        "x",
    ),
}
FUSED = {
    # the erf GELU's derivative for the tanh GELU: about 1e-3 apart at |x| ~ 2
    "exact-gelu-derivative-for-the-tanh-form": (
        changed(gelu.backward_fused, x=lambda g, fwd, x, R: exact_gelu_local(x) * R),
        "x",
    ),
    "fused-missing-1/2": (changed(gelu.backward_fused, x=lambda g, fwd, x, R: 2 * gelu.local(x) * R), "x"),
}


@pytest.mark.parametrize("seed", POINTS)
@pytest.mark.parametrize("form", ["step-by-step", "fused"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_the_derivation_agrees_with_autograd(device, dtype, seed, form):
    params, inputs = point(gelu, dtype, device, seed)
    forward, backward = (gelu.forward, right) if form == "step-by-step" else (gelu.forward_fused, gelu.backward_fused)
    report = verify_chain(forward, backward, params, inputs)
    report.assert_ok()
    assert [r.name for r in report.rows] == (["out", "t", "u", "x"] if form == "step-by-step" else ["out", "x"])
    assert {(t.dtype, t.device.type) for t in report.autograd.values()} == {(dtype, device)}


def test_the_step_by_step_forward_is_torch_gelu_tanh(dtype):
    params, inputs = as_mathematics(gelu, dtype)
    torch.testing.assert_close(gelu.forward(**params, **inputs)["out"], F.gelu(params["x"], approximate="tanh"))


def test_the_example_reaches_where_the_two_gelus_differ():
    """The exact-derivative mistake is only visible where erf and tanh GELU part (|x| of 1 to 3, ~1e-3 apart at
    most): the example reaches there, far above float32's atol of 1e-5"""
    params, _ = gelu.example(torch.float64, "cpu")
    x = params["x"]
    assert float((exact_gelu_local(x) - gelu.local(x)).abs().max()) > 5e-4


@pytest.mark.parametrize("mistake", [pytest.param(k, id=k) for k in STEP_BY_STEP])
def test_a_planted_mistake_in_the_step_by_step_backward_is_blamed_first(device, dtype, mistake):
    backward, name = STEP_BY_STEP[mistake]
    params, inputs = gelu.example(dtype, device)
    assert_blamed(verify_chain(gelu.forward, backward, params, inputs), name, "MISMATCH")


@pytest.mark.parametrize("mistake", [pytest.param(k, id=k) for k in FUSED])
def test_a_planted_mistake_in_the_fused_backward_is_blamed_first(device, dtype, mistake):
    backward, name = FUSED[mistake]
    params, inputs = gelu.example(dtype, device)
    assert_blamed(verify_chain(gelu.forward_fused, backward, params, inputs), name, "MISMATCH")


@pytest.mark.parametrize("form", ["step-by-step", "fused"])
def test_training_follows_torch_optim_sgd(dtype, form):
    params, inputs = gelu.example(dtype, "cpu")
    forward, backward = (gelu.forward, right) if form == "step-by-step" else (gelu.forward_fused, gelu.backward_fused)
    report = verify_training(forward, backward, params, inputs, lr=gelu.LR, epochs=20)
    report.assert_ok()
    assert moved(report, params) > 1e-2, "the parameters moved"


def test_training_parts_at_step_0_on_the_wrong_parameter(dtype):
    params, inputs = gelu.example(dtype, "cpu")
    wrong = STEP_BY_STEP["x-fan-out-overwritten"][0]
    report = verify_training(gelu.forward, wrong, params, inputs, lr=gelu.LR, epochs=3)
    assert not report.ok, report.summary()
    assert (report.first.step, report.first.parameter) == (0, "x"), report.summary()
