"""derivations/hidden.py: d -> H -> 1 with tanh, sigmoid output, BCE; each layer's local derivative times upstream."""

import pytest
import torch
import torch.nn.functional as F

from backprop_manual.check import verify_training
from backprop_manual.derivations import hidden
from tests.derivations.helpers import POINTS, assert_blamed, below_h, changed, moved, point, verify

right = hidden.backward


MISTAKES = {
    "tanh'-as-1-h": (below_h(right, lambda z1, h: 1 - h), "z1", "MISMATCH"),
    "tanh'-at-z1-not-h": (below_h(right, lambda z1, h: 1 - z1**2), "z1", "MISMATCH"),
    "dropped-transpose-dW1": (changed(right, W1=lambda g, fwd, X, **a: g["z1"].T @ X), "W1", "shape"),
    "dropped-transpose-dW2": (changed(right, W2=lambda g, fwd, **a: g["z2"].T @ fwd["h"]), "W2", "shape"),
    # the backward is linear in dJ/dz2: every gradient N times too large
    "missing-1/N": (lambda fwd, **a: {k: g * a["X"].shape[0] for k, g in right(fwd, **a).items()}, "z2", "MISMATCH"),
    "summed-batch-db1": (changed(right, b1=lambda g, fwd, **a: g["z1"].sum()), "b1", "shape"),
    "sign-of-dJ/dh": (below_h(right, hidden.tanh_local, d_h=lambda fwd, g: -g["h"]), "h", "MISMATCH"),
}


@pytest.mark.parametrize("seed", POINTS)
def test_the_derivation_agrees_with_autograd(device, dtype, seed):
    params, inputs = point(hidden, dtype, device, seed)
    report = verify(hidden, right, params, inputs)
    report.assert_ok()
    assert [r.name for r in report.rows] == ["z2", "W2", "b2", "h", "z1", "W1", "b1", "sigma"]
    assert {(t.dtype, t.device.type) for t in report.autograd.values()} == {(dtype, device)}


@pytest.mark.parametrize("mistake", [pytest.param(k, id=k) for k in MISTAKES])
def test_a_planted_mistake_is_blamed_first(dtype, mistake):
    backward, name, status = MISTAKES[mistake]
    params, inputs = hidden.example(dtype, "cpu")
    assert_blamed(verify(hidden, backward, params, inputs), name, status)


def test_a_dropped_transpose_is_named_as_one():
    params, inputs = hidden.example(torch.float64, "cpu")
    first = verify(hidden, MISTAKES["dropped-transpose-dW1"][0], params, inputs).first_divergence
    assert first.problem == "manual has shape [8, 30], autograd [30, 8] (transposed?)"


@pytest.mark.parametrize("per_sample", [False, True], ids=["full-batch", "per-sample"])
def test_training_follows_torch_optim_sgd(dtype, per_sample):
    params, inputs = hidden.example(dtype, "cpu")
    if per_sample:  # one epoch over the first 100 rows: each step a batch of one
        inputs = {k: v[:100] for k, v in inputs.items()}
    report = verify_training(
        hidden.forward, right, params, inputs, lr=hidden.LR, epochs=1 if per_sample else 30, per_sample=per_sample
    )
    report.assert_ok()
    assert moved(report, params) > 1e-2, "the parameters moved"


def test_training_parts_at_step_0_on_the_wrong_parameter(dtype):
    params, inputs = hidden.example(dtype, "cpu")
    report = verify_training(hidden.forward, MISTAKES["tanh'-as-1-h"][0], params, inputs, lr=hidden.LR, epochs=3)
    assert not report.ok, report.summary()
    assert (report.first.step, report.first.parameter) == (0, "W1"), report.summary()


def sgd_by_autograd(params, X, y):
    """One torch.optim.SGD step on J = mean BCE(sigmoid(tanh(X W1 + b1) W2 + b2), y) from torch's own ops, the
    oracle independent of hidden.py"""
    ps = {k: p.clone().requires_grad_(True) for k, p in params.items()}
    opt = torch.optim.SGD(ps.values(), lr=hidden.LR)
    F.binary_cross_entropy_with_logits(torch.tanh(X @ ps["W1"] + ps["b1"]) @ ps["W2"] + ps["b2"], y).backward()
    opt.step()
    return {k: p.detach() for k, p in ps.items()}


@pytest.mark.parametrize("seed", POINTS)
def test_step_updates_as_backward_then_sgd(device, dtype, seed):
    """hidden.step (the benchmarked training step: no J, in place) leaves the parameters bit for bit where
    hidden.backward and SGD's p.add_(dJ/dp, alpha=-lr) leave them, and where autograd's SGD step does."""
    params, inputs = point(hidden, dtype, device, seed)
    grads = right(hidden.forward(**params, **inputs), **params, **inputs)
    derived = {k: p.add(grads[k], alpha=-hidden.LR) for k, p in params.items()}
    autograd = sgd_by_autograd(params, **inputs)
    stepped = {k: p.clone() for k, p in params.items()}
    hidden.step(**stepped, **inputs)
    for name, p in stepped.items():  # W1, b1, W2, b2: the order the update writes them
        assert not p.is_inference(), f"{name} became an inference tensor: autograd could no longer train it"
        assert torch.equal(p, derived[name]), (
            f"hidden.step, {name} after one step is not hidden.backward's update bit for bit: greatest difference "
            f"{float((p - derived[name]).abs().max()):.3g} (none allowed)"
        )
        where = f"hidden.step, {name} after one step differs from autograd's"
        torch.testing.assert_close(p, autograd[name], msg=lambda m, where=where: f"{where}: {m}")
