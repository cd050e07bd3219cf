"""derivations/neuron.py: the lesson's neuron, one J per sample, built from the package's local derivatives.

derivations/batch_form.py has no test file of its own: its sum form is tested here, its mean form in test_matrix.py."""

import pytest
import torch

from backprop_manual.check import verify_training
from backprop_manual.derivations import neuron
from backprop_manual.derivations.batch_form import batch_form
from backprop_manual.neuron.local_derivatives import delta_J_delta_sigma
from tests.derivations.helpers import POINTS, assert_blamed, changed, moved, point, verify

right = neuron.backward


def d_sigma_then_down(d_sigma):
    """The neuron's backward from a (wrong) dJ/dsigma down: the mistake flows on, as it would in the code."""

    def backward(fwd, w, b, x, y):
        ds = d_sigma(fwd["sigma"], y)
        dz = fwd["sigma"] * (1 - fwd["sigma"]) * ds
        return {"sigma": ds, "z": dz, "w": x * dz, "b": dz}

    return backward


# name: (backward, the gradient blamed first, its status)
MISTAKES = {
    # the lesson's own delta_J_delta_sigma: torch.sum(2*(y_hat - y)) collapses the samples into one number
    "lesson's-summed-dJ/dsigma": (d_sigma_then_down(lambda s, y: torch.sum(2 * (s - y))), "sigma", "shape"),
    "sign-of-dJ/dsigma": (d_sigma_then_down(lambda s, y: 2 * (y - s)), "sigma", "MISMATCH"),
    "forgotten-factor-2": (d_sigma_then_down(lambda s, y: s - y), "sigma", "MISMATCH"),
    "dsigma/dz-as-sigma": (
        changed(right, z=lambda g, fwd, **a: fwd["sigma"] * g["sigma"], w=lambda g, fwd, x, **a: x * g["z"]),
        "z",
        "MISMATCH",
    ),
    # the lesson's loop: delta_z_delta_w(first_x) for every sample
    "lesson's-first_x-in-dJ/dw": (changed(right, w=lambda g, fwd, x, **a: x[0] * g["z"]), "w", "MISMATCH"),
    "dJ/db-skips-dsigma/dz": (changed(right, b=lambda g, fwd, **a: g["sigma"]), "b", "MISMATCH"),
}


@pytest.mark.parametrize("seed", POINTS)
def test_the_derivation_agrees_with_autograd(device, dtype, seed):
    params, inputs = point(neuron, dtype, device, seed)
    report = verify(neuron, right, params, inputs)
    report.assert_ok()
    assert [r.name for r in report.rows] == ["sigma", "z", "w", "b"]
    assert report.autograd["w"].shape == (569,), "one dJ_i/dw per sample"
    assert {(t.dtype, t.device.type) for t in report.autograd.values()} == {(dtype, device)}


def test_the_backward_is_the_packages_local_derivatives():
    params, inputs = neuron.example(torch.float64, "cpu")
    fwd = neuron.forward(**params, **inputs)
    assert torch.equal(right(fwd, **params, **inputs)["sigma"], delta_J_delta_sigma(fwd["sigma"], inputs["y"]))


def test_the_example_is_the_lessons_first_step():
    params, inputs = neuron.example(torch.float64, "cpu")
    g = right(neuron.forward(**params, **inputs), **params, **inputs)
    # the lesson prints dJ/dw = -0.2500 and dJ/db = -0.2497 for the first sample
    assert (round(float(g["w"][0]), 4), round(float(g["b"][0]), 4)) == (-0.25, -0.2497)


@pytest.mark.parametrize("mistake", [pytest.param(k, id=k) for k in MISTAKES])
def test_a_planted_mistake_is_blamed_first(dtype, mistake):
    backward, name, status = MISTAKES[mistake]
    params, inputs = neuron.example(dtype, "cpu")
    assert_blamed(verify(neuron, backward, params, inputs), name, status)


def test_the_lessons_first_x_is_right_for_the_first_sample_only():
    params, inputs = neuron.example(torch.float64, "cpu")
    first = verify(neuron, MISTAKES["lesson's-first_x-in-dJ/dw"][0], params, inputs).first_divergence
    assert first.index == [1], "sample 0 is first_x itself"


@pytest.mark.wide_dtypes("the lesson's lr 1e-4 moves no 16-bit parameter: lr·g ~ 1e-5 under half an ULP of w = 2")
def test_training_one_sample_per_step_is_the_lessons_loop_and_follows_torch_optim_sgd(dtype):
    params, inputs = neuron.example(dtype, "cpu")
    report = verify_training(neuron.forward, right, params, inputs, lr=neuron.LR, per_sample=True)
    report.assert_ok()
    assert report.steps == 569
    assert moved(report, params) > 1e-3, "the parameters moved"


@pytest.mark.wide_dtypes("the lesson's lr 1e-4 moves no 16-bit parameter: lr·g ~ 1e-5 under half an ULP of w = 2")
def test_training_full_batch_on_the_summed_J_follows_torch_optim_sgd(dtype):
    params, inputs = neuron.example(dtype, "cpu")
    forward, backward = batch_form(neuron.forward, right, "sum")  # J = sum_i J_i: one scalar per step
    report = verify_training(forward, backward, params, inputs, lr=neuron.LR, epochs=20)
    report.assert_ok()
    assert report.steps == 20
    assert moved(report, params) > 1e-3, "the parameters moved"


def test_training_parts_at_step_0_on_the_wrong_parameter(dtype):
    params, inputs = neuron.example(dtype, "cpu")
    first_rows = {k: v[:8] for k, v in inputs.items()}
    report = verify_training(
        neuron.forward, MISTAKES["dJ/db-skips-dsigma/dz"][0], params, first_rows, lr=neuron.LR, per_sample=True
    )
    assert not report.ok, report.summary()
    assert (report.first.step, report.first.parameter) == (0, "b"), report.summary()
