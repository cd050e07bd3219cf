"""derivations/layernorm.py: llm.c's LayerNorm, the fused dJ/dx = rstd (dn - mean dn - n mean(dn n))."""

import pytest
import torch

from backprop_manual.check import verify_training
from backprop_manual.derivations import layernorm
from tests.derivations.helpers import DTYPES, POINTS, as_mathematics, assert_blamed, changed, moved, point, verify

right = layernorm.backward


def dx(formula):
    """The right backward with dJ/dx = formula(dn, n, rstd)."""
    return changed(right, x=lambda g, fwd, x, **a: formula(g["norm"], fwd["norm"], layernorm.rstd_of(x)))


MISTAKES = {
    # mean and rstd taken for constants: only the first term of the chain rule through them
    "dx-as-rstd-dnorm": (dx(lambda dn, n, rstd: rstd * dn), "x", "MISMATCH"),
    "dx-without-the-mean-term": (
        dx(lambda dn, n, rstd: rstd * (dn - n * (dn * n).mean(-1, keepdim=True))),
        "x",
        "MISMATCH",
    ),
    # sum where the mean belongs: the 1/C missing from both terms
    "missing-1/C": (
        dx(lambda dn, n, rstd: rstd * (dn - dn.sum(-1, keepdim=True) - n * (dn * n).sum(-1, keepdim=True))),
        "x",
        "MISMATCH",
    ),
    "rstd-as-std": (
        dx(lambda dn, n, rstd: (dn - dn.mean(-1, keepdim=True) - n * (dn * n).mean(-1, keepdim=True)) / rstd),
        "x",
        "MISMATCH",
    ),
    # the mean over the batch and time axes instead of the normalised one: the same shape, other values
    "mean-over-the-wrong-axis": (
        dx(lambda dn, n, rstd: rstd * (dn - dn.mean(0, keepdim=True) - n * (dn * n).mean(0, keepdim=True))),
        "x",
        "MISMATCH",
    ),
    "dnorm-without-w": (changed(right, norm=lambda g, fwd, **a: g["out"]), "norm", "MISMATCH"),
    "dw-summed-over-channels": (changed(right, w=lambda g, fwd, **a: (g["out"] * fwd["norm"]).sum(-1)), "w", "shape"),
}


@pytest.mark.parametrize("seed", POINTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_the_derivation_agrees_with_autograd(device, dtype, seed):
    params, inputs = point(layernorm, dtype, device, seed)
    report = verify(layernorm, right, params, inputs)
    report.assert_ok()
    assert [r.name for r in report.rows] == ["out", "w", "b", "norm", "x"]
    assert {(t.dtype, t.device.type) for t in report.autograd.values()} == {(dtype, device)}


def test_the_forward_is_torch_layer_norm(dtype):
    params, inputs = as_mathematics(layernorm, dtype)
    x, w, b = inputs["x"], params["w"], params["b"]
    out = layernorm.forward(**params, **inputs)["out"]
    torch.testing.assert_close(out, torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, layernorm.EPS))


@pytest.mark.parametrize("mistake", [pytest.param(k, id=k) for k in MISTAKES])
def test_a_planted_mistake_is_blamed_first(device, dtype, mistake):
    backward, name, status = MISTAKES[mistake]
    params, inputs = layernorm.example(dtype, device)
    assert_blamed(verify(layernorm, backward, params, inputs), name, status)


def train(backward, params, inputs, lr=layernorm.LR, epochs=20):
    return verify_training(
        layernorm.forward, backward, params, inputs, lr=lr, epochs=epochs, check_inputs=layernorm.CHECK_INPUTS
    )


def test_training_follows_torch_optim_sgd(dtype):
    params, inputs = layernorm.example(dtype, "cpu")
    report = train(right, params, inputs)
    report.assert_ok()
    assert moved(report, params) > 1e-2, "the parameters moved"


def test_x_is_checked_but_never_trained(dtype):
    params, inputs = layernorm.example(dtype, "cpu")
    x = inputs["x"].clone()
    report = train(right, params, inputs, epochs=3)
    report.assert_ok()
    assert set(report.manual) == set(report.autograd) == {"w", "b"}, "only the parameters are trained"
    assert torch.equal(inputs["x"], x), "x is left as it was"


# A correct derivation that the free-running training criterion failed in float32 at ten times the module's LR
# (when x was a parameter, trained too): J is linear in w and b, so they grow without bound, dJ/dx grows with w, and
# two free-running trajectories' rounding differences grew with it until, at step 12, one x parted by 1.4e-05
# against an allowance of 1.06e-05. Judged in lockstep (each step from autograd's parameters, by the error model) it
# agrees; dJ/dx, judged at every step, grows with w all the same.
def test_training_at_lr_0_1_follows_torch_optim_sgd_in_float32():
    params, inputs = layernorm.example(torch.float32, "cpu")
    train(right, params, inputs, lr=0.1).assert_ok()


def test_training_parts_at_step_0_on_the_checked_input(dtype):
    params, inputs = layernorm.example(dtype, "cpu")
    report = train(MISTAKES["missing-1/C"][0], params, inputs, epochs=3)
    assert not report.ok, report.summary()
    assert (report.first.step, report.first.parameter, report.first.role) == (0, "x", "input"), report.summary()
    assert ": MISMATCH, first at step 0, input x[" in report.summary()
