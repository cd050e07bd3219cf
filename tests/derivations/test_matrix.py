"""derivations/matrix.py: the neuron in matrix form on 30 features; with d = 1 it is the lesson's neuron averaged."""

import pytest
import torch

from backprop_manual.check import verify_training
from backprop_manual.derivations import matrix, neuron
from backprop_manual.derivations.batch_form import batch_form
from tests.derivations.helpers import POINTS, assert_blamed, changed, moved, point, verify
from tests.shared import cell_data, start

right = matrix.backward


def d_sigma_then_down(d_sigma):
    def backward(fwd, w, b, X, y):
        ds = d_sigma(fwd["sigma"], y, X.shape[0])
        dz = fwd["sigma"] * (1 - fwd["sigma"]) * ds
        return {"sigma": ds, "z": dz, "w": X.T @ dz, "b": dz.sum()}

    return backward


MISTAKES = {
    "missing-1/N": (d_sigma_then_down(lambda s, y, N: 2 * (s - y)), "sigma", "MISMATCH"),
    "lesson's-summed-dJ/dsigma": (d_sigma_then_down(lambda s, y, N: torch.sum(2 * (s - y)) / N), "sigma", "shape"),
    "sign-of-dJ/dz": (
        changed(right, z=lambda g, fwd, **a: -g["z"], w=lambda g, fwd, X, **a: X.T @ g["z"]),
        "z",
        "MISMATCH",
    ),
    "dJ/dw-skips-dsigma/dz": (changed(right, w=lambda g, fwd, X, **a: X.T @ g["sigma"]), "w", "MISMATCH"),
    "dJ/dw-not-summed-over-samples": (changed(right, w=lambda g, fwd, X, **a: X * g["z"][:, None]), "w", "shape"),
    "dJ/db-averaged-twice": (changed(right, b=lambda g, fwd, **a: g["z"].mean()), "b", "MISMATCH"),
}


@pytest.mark.parametrize("seed", POINTS)
def test_the_derivation_agrees_with_autograd(device, dtype, seed):
    params, inputs = point(matrix, dtype, device, seed)
    report = verify(matrix, right, params, inputs)
    report.assert_ok()
    assert [r.name for r in report.rows] == ["sigma", "z", "w", "b"]
    assert report.autograd["w"].shape == (30,)
    assert {(t.dtype, t.device.type) for t in report.autograd.values()} == {(dtype, device)}


def test_the_data_is_the_30_standardized_features():
    X, y = matrix.read_features(dtype=torch.float64, device="cpu")
    assert X.shape == (569, 30) and int(y.sum()) == 212
    torch.testing.assert_close(X.mean(0), torch.zeros(30, dtype=torch.float64), atol=1e-7, rtol=0)  # 7 decimals
    torch.testing.assert_close(X.std(0, correction=0), torch.ones(30, dtype=torch.float64), atol=1e-6, rtol=0)


@pytest.mark.parametrize("mistake", [pytest.param(k, id=k) for k in MISTAKES])
def test_a_planted_mistake_is_blamed_first(dtype, mistake):
    backward, name, status = MISTAKES[mistake]
    params, inputs = matrix.example(dtype, "cpu")
    assert_blamed(verify(matrix, backward, params, inputs), name, status)


def one_feature(dtype):
    """The lesson's point in both forms: the neuron's (w, x [N]) and the matrix form's (w [1], X [N, 1])."""
    data, (w, b) = cell_data(dtype), start(dtype)
    return (
        {"w": w, "b": b},
        {"x": data.X, "y": data.y},
        {"w": w.reshape(1), "b": b},
        {"X": data.X[:, None], "y": data.y},
    )


def test_with_one_feature_dJ_dw_is_the_neurons_per_sample_dJ_dw_averaged(dtype):
    neuron_params, neuron_inputs, params, inputs = one_feature(dtype)
    per_sample = verify(neuron, neuron.backward, neuron_params, neuron_inputs)  # autograd's [N] dJ_i/dw
    batch = verify(matrix, right, params, inputs)
    per_sample.assert_ok()
    batch.assert_ok()
    torch.testing.assert_close(batch.manual["w"], per_sample.manual["w"].mean().reshape(1))
    torch.testing.assert_close(batch.manual["b"], per_sample.manual["b"].mean())
    torch.testing.assert_close(batch.autograd["w"], per_sample.autograd["w"].mean().reshape(1))


def test_with_one_feature_training_follows_the_neurons_mean_loss_full_batch(dtype):
    neuron_params, neuron_inputs, params, inputs = one_feature(dtype)
    forward, backward = batch_form(neuron.forward, neuron.backward, "mean")
    steps, lr = 20, matrix.LR
    ours, theirs = dict(params), dict(neuron_params)
    trajectory, reference = [], []
    for _ in range(steps):
        g = right(matrix.forward(**ours, **inputs), **ours, **inputs)
        ours = {k: p - lr * g[k] for k, p in ours.items()}
        h = backward(forward(**theirs, **neuron_inputs), **theirs, **neuron_inputs)
        theirs = {k: p - lr * h[k] for k, p in theirs.items()}
        trajectory.append(torch.stack([ours["w"][0], ours["b"]]))
        reference.append(torch.stack([theirs["w"], theirs["b"]]))
    # [step, (w, b)]: a failure names the step where the two forms part
    torch.testing.assert_close(torch.stack(trajectory), torch.stack(reference))
    assert float((trajectory[-1] - trajectory[0]).abs().max()) > 1e-3, "the parameters moved"


@pytest.mark.parametrize("per_sample", [False, True], ids=["full-batch", "per-sample"])
def test_training_follows_torch_optim_sgd(dtype, per_sample):
    params, inputs = matrix.example(dtype, "cpu")
    if per_sample:  # one epoch over the first 100 rows: each step a batch of one
        inputs = {k: v[:100] for k, v in inputs.items()}
    report = verify_training(
        matrix.forward, right, params, inputs, lr=matrix.LR, epochs=1 if per_sample else 30, per_sample=per_sample
    )
    report.assert_ok()
    assert moved(report, params) > 1e-2, "the parameters moved"


def test_training_parts_at_step_0_on_the_wrong_parameter(dtype):
    params, inputs = matrix.example(dtype, "cpu")
    report = verify_training(
        matrix.forward, MISTAKES["dJ/db-averaged-twice"][0], params, inputs, lr=matrix.LR, epochs=3
    )
    assert not report.ok, report.summary()
    assert (report.first.step, report.first.parameter) == (0, "b"), report.summary()
