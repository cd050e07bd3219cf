"""derivations/softmax.py: softmax cross-entropy over iris's 3 classes; the fused dJ/dlogits = (p - onehot)/N."""

import pytest
import torch
import torch.nn.functional as F

from backprop_manual.check import verify_training
from backprop_manual.derivations import softmax
from tests.derivations.helpers import POINTS, assert_blamed, changed, moved, point, verify

right = softmax.backward


def d_logits_then_down(d_logits):
    def backward(fwd, W, b, X, y):
        p = fwd["p"]
        dl = d_logits(p, F.one_hot(y, p.shape[1]).to(p.dtype), X.shape[0])
        return {"logits": dl, "W": X.T @ dl, "b": dl.sum(0), "p": torch.zeros_like(p)}

    return backward


MISTAKES = {
    "missing-1/N": (d_logits_then_down(lambda p, onehot, N: p - onehot), "logits", "MISMATCH"),
    "onehot-forgotten": (d_logits_then_down(lambda p, onehot, N: p / N), "logits", "MISMATCH"),
    "sign": (d_logits_then_down(lambda p, onehot, N: (onehot - p) / N), "logits", "MISMATCH"),
    # the softmax Jacobian's diagonal p (1 - p) only, the -p_c p_k off the diagonal forgotten: the true class only
    "diagonal-only-jacobian": (d_logits_then_down(lambda p, onehot, N: -(1 - p) * onehot / N), "logits", "MISMATCH"),
    "dropped-transpose-dW": (changed(right, W=lambda g, fwd, X, **a: g["logits"].T @ X), "W", "shape"),
    "db-summed-over-classes-too": (changed(right, b=lambda g, fwd, **a: g["logits"].sum()), "b", "shape"),
    "naive-dJ/dp": (
        changed(right, p=lambda g, fwd, y, X, **a: -F.one_hot(y, 3).to(X) / fwd["p"] / X.shape[0]),
        "p",
        "MISMATCH",
    ),
}


@pytest.mark.parametrize("seed", POINTS)
def test_the_derivation_agrees_with_autograd(device, dtype, seed):
    params, inputs = point(softmax, dtype, device, seed)
    report = verify(softmax, right, params, inputs)
    report.assert_ok()
    assert [r.name for r in report.rows] == ["logits", "W", "b", "p"], "p does not reach J: last"
    assert report.autograd["W"].shape == (4, 3)
    assert {(t.dtype, t.device.type) for t in report.autograd.values()} == {(dtype, device)}


def test_the_data_is_iris_three_classes_of_fifty():
    X, species = softmax.read_features(softmax.IRIS, target="species", dtype=torch.float64, device="cpu")
    assert X.shape == (150, 4)
    assert torch.bincount(species.long()).tolist() == [50, 50, 50]


def test_the_rows_of_dJ_dlogits_sum_to_0(dtype):
    params, inputs = softmax.example(dtype, "cpu")
    d_logits = right(softmax.forward(**params, **inputs), **params, **inputs)["logits"]
    rows = d_logits.sum(1)  # sum_c (p_c - onehot_c) = 1 - 1: rounding noise of a few eps / N
    torch.testing.assert_close(rows, torch.zeros_like(rows), atol=8 * torch.finfo(dtype).eps / 150, rtol=0)


@pytest.mark.parametrize("mistake", [pytest.param(k, id=k) for k in MISTAKES])
def test_a_planted_mistake_is_blamed_first(dtype, mistake):
    backward, name, status = MISTAKES[mistake]
    params, inputs = softmax.example(dtype, "cpu")
    assert_blamed(verify(softmax, backward, params, inputs), name, status)


@pytest.mark.parametrize("per_sample", [False, True], ids=["full-batch", "per-sample"])
def test_training_follows_torch_optim_sgd(dtype, per_sample):
    params, inputs = softmax.example(dtype, "cpu")
    report = verify_training(
        softmax.forward, right, params, inputs, lr=softmax.LR, epochs=1 if per_sample else 30, per_sample=per_sample
    )
    report.assert_ok()
    assert moved(report, params) > 1e-2, "the parameters moved"


def test_training_parts_at_step_0_on_the_wrong_parameter(dtype):
    params, inputs = softmax.example(dtype, "cpu")
    report = verify_training(
        softmax.forward, MISTAKES["diagonal-only-jacobian"][0], params, inputs, lr=softmax.LR, epochs=3
    )
    assert not report.ok, report.summary()
    assert (report.first.step, report.first.parameter) == (0, "W"), report.summary()
