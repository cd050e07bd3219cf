"""derivations/hidden_relu.py: d -> H -> 1 with ReLU; dReLU/dz at exactly z = 0 is 0, in the derivation and in torch."""

import pytest
import torch

from backprop_manual.check import verify_training
from backprop_manual.derivations import hidden, hidden_relu
from tests.derivations.helpers import POINTS, assert_blamed, below_h, changed, moved, perturbed, point, verify

right = hidden_relu.backward
KINK = (0, slice(0, hidden.H // 2))  # where the example puts z1 exactly at 0: sample 0, the first H/2 units

MISTAKES = {
    # torch.clamp(z, min=0)'s convention: 1 at z = 0. Only visible where some z1 is exactly 0 (the example's sample 0)
    "dReLU(0)-as-1": (below_h(right, lambda z1, h: (z1 >= 0).to(z1.dtype)), "z1", "MISMATCH"),
    "dReLU-as-h": (below_h(right, lambda z1, h: h), "z1", "MISMATCH"),  # the activation's value, not its slope
    "relu-forgotten": (below_h(right, lambda z1, h: torch.ones_like(z1)), "z1", "MISMATCH"),
    "dropped-transpose-dW1": (changed(right, W1=lambda g, fwd, X, **a: g["z1"].T @ X), "W1", "shape"),
    "missing-1/N": (lambda fwd, **a: {k: g * a["X"].shape[0] for k, g in right(fwd, **a).items()}, "z2", "MISMATCH"),
    "sign-of-dJ/db2": (changed(right, b2=lambda g, fwd, **a: -g["b2"]), "b2", "MISMATCH"),
}


@pytest.mark.parametrize("seed", POINTS)
def test_the_derivation_agrees_with_autograd(device, dtype, seed):
    params, inputs = point(hidden_relu, dtype, device, seed)
    report = verify(hidden_relu, right, params, inputs)
    report.assert_ok()
    assert [r.name for r in report.rows] == ["z2", "W2", "b2", "h", "z1", "W1", "b1", "sigma"]
    assert {(t.dtype, t.device.type) for t in report.autograd.values()} == {(dtype, device)}


def test_torch_relu_backward_is_0_at_0_and_clamp_backward_is_1(dtype):
    z = torch.zeros(3, dtype=dtype, requires_grad=True)
    (relu,) = torch.autograd.grad(torch.relu(z).sum(), z)
    (clamp,) = torch.autograd.grad(torch.clamp(z, min=0).sum(), z)
    assert relu.tolist() == [0, 0, 0], "threshold_backward: the gradient passes where z > 0"
    assert clamp.tolist() == [1, 1, 1], "clamp_backward: the gradient passes where z >= min"
    assert hidden_relu.relu_local(z.detach(), torch.relu(z.detach())).tolist() == [0, 0, 0], "the derivation: 0"


def test_the_example_sits_on_the_kink_and_both_sides_give_0_there(device, dtype):
    params, inputs = hidden_relu.example(dtype, device)
    report = verify(hidden_relu, right, params, inputs)
    report.assert_ok()
    z1 = hidden_relu.forward(**params, **inputs)["z1"]
    assert bool((z1[KINK] == 0).all()), f"z1[0, :4] is exactly 0: {z1[KINK].tolist()}"
    assert bool((report.autograd["h"][KINK] != 0).all()), "something flows into h there"
    assert report.autograd["z1"][KINK].tolist() == [0.0] * 4, "autograd: nothing flows through the kink"
    assert report.manual["z1"][KINK].tolist() == [0.0] * 4, "the derivation: nothing either"


@pytest.mark.wide_dtypes(
    "the example's 4 kinks (z exactly 0) are float32's and float64's: rounded to 16 bits a fifth z is 0"
)
def test_dReLU_at_0_as_1_is_caught_at_the_kink_and_only_there(dtype):
    backward = MISTAKES["dReLU(0)-as-1"][0]
    params, inputs = hidden_relu.example(dtype, "cpu")
    report = verify(hidden_relu, backward, params, inputs)
    first = report.first_divergence
    assert (first.name, first.mismatched, first.index) == ("z1", 4, [0, 0]), "the 4 kinks, first at sample 0 unit 0"
    # a kink has no derivative: finite differences straddle it and side with neither convention
    assert report.witness().wrong == "undecided", report.message()
    elsewhere = verify(hidden_relu, backward, perturbed(params, 1), inputs)
    assert elsewhere.ok, "no z1 is exactly 0 at a random point: the two conventions cannot be told apart there"


@pytest.mark.parametrize("mistake", [pytest.param(k, id=k) for k in MISTAKES])
def test_a_planted_mistake_is_blamed_first(dtype, mistake):
    backward, name, status = MISTAKES[mistake]
    params, inputs = hidden_relu.example(dtype, "cpu")
    assert_blamed(verify(hidden_relu, backward, params, inputs), name, status)


@pytest.mark.parametrize("per_sample", [False, True], ids=["full-batch", "per-sample"])
def test_training_follows_torch_optim_sgd(dtype, per_sample):
    params, inputs = hidden_relu.example(dtype, "cpu")
    if per_sample:  # one epoch over the first 100 rows: each step a batch of one
        inputs = {k: v[:100] for k, v in inputs.items()}
    report = verify_training(
        hidden_relu.forward,
        right,
        params,
        inputs,
        lr=hidden_relu.LR,
        epochs=1 if per_sample else 30,
        per_sample=per_sample,
    )
    report.assert_ok()
    assert moved(report, params) > 1e-2, "the parameters moved"


def test_training_parts_at_step_0_on_the_wrong_parameter(dtype):
    params, inputs = hidden_relu.example(dtype, "cpu")
    report = verify_training(
        hidden_relu.forward, MISTAKES["relu-forgotten"][0], params, inputs, lr=hidden_relu.LR, epochs=3
    )
    assert not report.ok, report.summary()
    assert (report.first.step, report.first.parameter) == (0, "W1"), report.summary()
