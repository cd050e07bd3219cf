"""verify_training (check/training.py): the hand backward driving SGD follows autograd + torch.optim.SGD step by
step, full batch and per sample, and a run that parts is named at its first step and parameter."""

import pytest
import torch

from backprop_manual.check import ChainUsageError, verify_training
from tests.check import two_layer as tl
from tests.check.mistakes import MISTAKES
from tests.check.test_chain import neuron


@pytest.mark.parametrize("per_sample", [False, True], ids=["full-batch", "per-sample"])
def test_training_with_the_hand_backward_follows_torch_optim_sgd(dtype, per_sample):
    params, inputs = tl.example(dtype, "cpu", N=32)
    report = verify_training(
        tl.forward, tl.backward, params, inputs, lr=0.5, epochs=3 if per_sample else 30, per_sample=per_sample
    )
    report.assert_ok()
    assert report.steps == (3 * 32 if per_sample else 30)
    moved = max(float((report.manual[k] - params[k]).abs().max()) for k in params)
    assert moved > 1e-3, "the parameters moved: the comparison is not of two standing starts"


def test_training_names_the_first_step_and_parameter_that_part(dtype):
    params, inputs = tl.example(dtype, "cpu", N=32)
    report = verify_training(tl.forward, MISTAKES["tanh'-as-1-h"][0], params, inputs, lr=0.5, epochs=5)
    assert not report.ok
    assert (report.first.step, report.first.parameter) == (0, "W1"), report.summary()
    assert "step 0, parameter W1[" in report.summary()


def test_per_sample_training_takes_a_per_sample_forward_as_it_is(dtype):
    params, inputs = neuron(dtype)

    def forward(w, b, x, y):
        z = w * x + b
        sigma = torch.sigmoid(z)
        return {"z": z, "sigma": sigma, "loss": (sigma - y) ** 2}  # one J per sample

    def backward(fwd, w, b, x, y):
        d_z = fwd["sigma"] * (1 - fwd["sigma"]) * 2 * (fwd["sigma"] - y)
        return {"sigma": 2 * (fwd["sigma"] - y), "z": d_z, "w": x * d_z, "b": d_z}

    report = verify_training(forward, backward, params, inputs, lr=0.5, epochs=2, per_sample=True)
    report.assert_ok()
    assert report.steps == 14


@pytest.mark.parametrize(
    "change, problem",
    [
        pytest.param(lambda g: {k: v for k, v in g.items() if k != "b2"}, "no gradient for it", id="missing"),
        pytest.param(lambda g: {**g, "W2": g["W2"].T}, "shape [1, 16], the parameter [16, 1]", id="transposed"),
        pytest.param(
            lambda g: {**g, "W2": g["W2"].float()},
            "torch.float32 on cpu, the parameter torch.float64",
            id="float32-slip",
        ),
        pytest.param(lambda g: {**g, "W2": g["W2"] * torch.nan}, "not finite", id="nan"),
    ],
)
def test_training_parts_at_a_gradient_it_cannot_use_as_derived_never_reshaping_or_casting_it(change, problem):
    params, inputs = tl.example(torch.float64, "cpu", N=32)
    report = verify_training(
        tl.forward, lambda fwd, **a: change(tl.backward(fwd, **a)), params, inputs, lr=0.5, epochs=3
    )
    assert not report.ok
    assert report.first.step == 0 and report.first.parameter in ("b2", "W2")
    assert problem in report.summary()


@pytest.mark.parametrize(
    "change, what",
    [
        pytest.param(lambda g: float(g), "a float", id="float"),
        pytest.param(lambda g: g.numpy(), "a numpy.ndarray", id="numpy"),
        pytest.param(lambda g: g.tolist(), "a list", id="list"),
    ],
)
def test_a_gradient_that_is_not_a_tensor_is_a_usage_error_never_a_parting(change, what):
    params, inputs = tl.example(torch.float64, "cpu", N=32)
    with pytest.raises(
        ChainUsageError, match=rf"the backward's gradient 'b2' \(dJ/db2\) is {what}, not a torch.Tensor"
    ):
        verify_training(
            tl.forward,
            lambda fwd, **a: {**tl.backward(fwd, **a), "b2": change(tl.backward(fwd, **a)["b2"])},
            params,
            inputs,
            lr=0.5,
            epochs=2,
        )


def test_one_step_is_one_step():
    params, inputs = tl.example(torch.float64, "cpu", N=8)
    summary = verify_training(tl.forward, tl.backward, params, inputs, lr=0.5, epochs=1).summary()
    assert summary.startswith("training, 1 step in lockstep "), summary


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bfloat16", "float16"])
def test_a_16_bit_slip_inside_the_dtypes_rounding_parts_the_training_at_step_0(dtype):
    """dJ/dw off by a relative 3e-4, inside either 16-bit dtype's rounding (8 · ½ε: 0.4% in float16, 3% in
    bfloat16): every step looks right in the dtype itself, and the step's mathematics, judged in float64 on the same
    values as verify_chain judges it, parts at step 0 on w; the right backward trains in lockstep to the end."""

    def forward(w, x):
        z = x @ w
        return {"z": z, "loss": (torch.tanh(z) ** 2).mean()}

    def backward(fwd, w, x, slip=3e-4):
        d_z = 2 * torch.tanh(fwd["z"]) * (1 - torch.tanh(fwd["z"]) ** 2) / fwd["z"].numel()
        return {"z": d_z, "w": x.T @ d_z * (1 + slip)}

    g = torch.Generator().manual_seed(0)
    params, inputs = {"w": torch.randn(4, 3, generator=g).to(dtype)}, {"x": torch.randn(16, 4, generator=g).to(dtype)}
    report = verify_training(forward, backward, params, inputs, lr=0.1, epochs=3)
    assert not report.ok and (report.first.step, report.first.parameter) == (0, "w"), report.summary()
    assert "wrong as mathematics" in report.first.problem, report.summary()
    right = verify_training(forward, lambda fwd, w, x: backward(fwd, w, x, slip=0.0), params, inputs, lr=0.1, epochs=3)
    assert right.ok and right.steps == 3, right.summary()
