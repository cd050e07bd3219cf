"""derivations/logistic.py: BCE's dJ/dz = (sigma - y)/N, and why the forward computes J from z (saturation)."""

import pytest
import torch
import torch.nn.functional as F

from backprop_manual.check import verify_chain, verify_training
from backprop_manual.derivations import logistic
from tests.derivations.helpers import POINTS, assert_blamed, changed, moved, point, verify

right = logistic.backward


def d_z_then_down(d_z):
    def backward(fwd, w, b, X, y):
        dz = d_z(fwd["sigma"], y, X.shape[0])
        return {"z": dz, "w": X.T @ dz, "b": dz.sum(), "sigma": torch.zeros_like(dz)}

    return backward


MISTAKES = {
    "missing-1/N": (d_z_then_down(lambda s, y, N: s - y), "z", "MISMATCH"),
    "sign-y-minus-sigma": (d_z_then_down(lambda s, y, N: (y - s) / N), "z", "MISMATCH"),
    # the squared error's habit: the sigmoid's local derivative applied on top of the fused sigma - y
    "extra-dsigma/dz": (d_z_then_down(lambda s, y, N: s * (1 - s) * (s - y) / N), "z", "MISMATCH"),
    "dJ/dw-missing-1/N": (changed(right, w=lambda g, fwd, X, y, **a: X.T @ (fwd["sigma"] - y)), "w", "MISMATCH"),
    "dJ/db-not-summed": (changed(right, b=lambda g, fwd, **a: g["z"]), "b", "shape"),
    # the chain through sigma of the naive form: sigma is off the stable form's graph, its dJ/dsigma is 0
    "naive-dJ/dsigma": (
        changed(
            right, sigma=lambda g, fwd, X, y, **a: (fwd["sigma"] - y) / (fwd["sigma"] * (1 - fwd["sigma"])) / X.shape[0]
        ),
        "sigma",
        "MISMATCH",
    ),
}


@pytest.mark.parametrize("seed", POINTS)
def test_the_derivation_agrees_with_autograd(device, dtype, seed):
    params, inputs = point(logistic, dtype, device, seed)
    report = verify(logistic, right, params, inputs)
    report.assert_ok()
    assert [r.name for r in report.rows] == ["z", "w", "b", "sigma"], "sigma does not reach J: last"
    assert {(t.dtype, t.device.type) for t in report.autograd.values()} == {(dtype, device)}


@pytest.mark.parametrize("mistake", [pytest.param(k, id=k) for k in MISTAKES])
def test_a_planted_mistake_is_blamed_first(dtype, mistake):
    backward, name, status = MISTAKES[mistake]
    if mistake == "naive-dJ/dsigma" and dtype == torch.bfloat16:
        status = "not finite"  # σ rounds to 1 in bfloat16 at this data's largest z: the naive form divides by 0 there
    params, inputs = logistic.example(dtype, "cpu")
    assert_blamed(verify(logistic, backward, params, inputs), name, status)


def saturated(dtype):
    """z = +40, +40, -40, -40 with y = 1, 0, 0, 1: confidently right, wrong, right, wrong."""
    X = torch.tensor([[40.0], [40.0], [-40.0], [-40.0]], dtype=dtype)
    params = {"w": torch.ones(1, dtype=dtype), "b": torch.zeros((), dtype=dtype)}
    return params, {"X": X, "y": torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=dtype)}


@pytest.mark.wide_dtypes(
    "e^-40 is below float16's smallest subnormal: the naive loss is not finite already", dtypes=("float16",)
)
def test_at_saturation_the_naive_loss_breaks_and_the_stable_one_does_not(dtype):
    params, inputs = saturated(dtype)
    z = inputs["X"] @ params["w"] + params["b"]
    sigma, y = torch.sigmoid(z), inputs["y"]
    assert sigma[0] == 1 and sigma[1] == 1, "sigmoid(40) rounds to 1 in float32 and float64 alike"
    naive = -(y * torch.log(sigma) + (1 - y) * torch.log(1 - sigma))
    assert torch.isnan(naive[0]), "0 · log(0): nan where the prediction is right"
    assert torch.isinf(naive[1]), "-log(1 - 1): inf where the true J is 40"
    assert naive[2] == 0, "log(1 - e^-40) rounds to log 1: the loss e^-40 is lost"
    assert not torch.isfinite(logistic.naive_loss(sigma, y))
    e40 = torch.exp(torch.tensor(-40.0, dtype=torch.float64))  # J = log(1 + e^-40) ≈ e^-40 = 4.25e-18
    exact = torch.stack([e40, 40 + e40, e40, 40 + e40]).to(dtype)
    ours = -(y * F.logsigmoid(z) + (1 - y) * F.logsigmoid(-z))  # logistic.bce_from_logits, per sample
    torch.testing.assert_close(ours, exact, atol=0, rtol=4 * torch.finfo(dtype).eps)  # e^-40 kept: a few ULP
    torch.testing.assert_close(logistic.bce_from_logits(z, y), exact.mean())
    fused = F.binary_cross_entropy_with_logits(z, y, reduction="none")
    assert bool(torch.isfinite(fused).all()), "torch's fused form is finite too"
    assert fused[2] == 0, "but it computes log(1 + e^-40) as log, not log1p: the tiny loss rounds to 0"


def test_at_saturation_the_hand_gradient_stays_finite_and_agrees(dtype):
    params, inputs = saturated(dtype)
    report = verify(logistic, right, params, inputs)
    report.assert_ok()
    d_z = report.manual["z"]
    assert bool(torch.isfinite(d_z).all()), "(sigma - y)/N needs no division by sigma (1 - sigma)"
    # sigma rounds to 1 at z = 40: sigma - y is 0 where autograd has -e^-40/N, an absolute 1e-18
    torch.testing.assert_close(d_z, torch.tensor([0.0, 1.0, 0.0, -1.0], dtype=dtype) / 4, atol=1e-17, rtol=0)
    torch.testing.assert_close(report.autograd["z"], d_z, atol=1e-17, rtol=0)
    assert torch.isfinite(logistic.forward(**params, **inputs)["loss"])


def test_at_saturation_autograd_through_the_naive_loss_is_not_finite(dtype):
    params, inputs = saturated(dtype)

    def naive_forward(w, b, X, y):
        z = X @ w + b
        sigma = torch.sigmoid(z)
        return {"z": z, "sigma": sigma, "loss": logistic.naive_loss(sigma, y)}

    def naive_backward(fwd, w, b, X, y):
        return {**right(fwd, w=w, b=b, X=X, y=y), "sigma": None}  # dJ/dsigma = (sigma - y)/(sigma (1 - sigma) N)

    report = verify_chain(naive_forward, naive_backward, params, inputs)
    assert report.rows[0].name == "sigma" and report.rows[0].status == "missing"
    assert not bool(torch.isfinite(report.autograd["z"]).all()), "the naive graph's dJ/dz is nan at saturation"
    assert bool(torch.isfinite(report.manual["z"]).all())


@pytest.mark.parametrize("per_sample", [False, True], ids=["full-batch", "per-sample"])
def test_training_follows_torch_optim_sgd(dtype, per_sample):
    params, inputs = logistic.example(dtype, "cpu")
    if per_sample:  # one epoch over the first 100 rows: each step a batch of one
        inputs = {k: v[:100] for k, v in inputs.items()}
    report = verify_training(
        logistic.forward, right, params, inputs, lr=logistic.LR, epochs=1 if per_sample else 30, per_sample=per_sample
    )
    report.assert_ok()
    assert moved(report, params) > 1e-2, "the parameters moved"


def test_training_parts_at_step_0_on_the_wrong_parameter(dtype):
    params, inputs = logistic.example(dtype, "cpu")
    report = verify_training(
        logistic.forward, MISTAKES["dJ/dw-missing-1/N"][0], params, inputs, lr=logistic.LR, epochs=3
    )
    assert not report.ok, report.summary()
    assert (report.first.step, report.first.parameter) == (0, "w"), report.summary()
