"""check_inputs (verify_chain, verify_training): dJ/d(input) checked when asked, an input neither made a parameter
nor trained. The two-layer network's X is the input: dJ/dX = dJ/dz1 W1^T."""

import pytest
import torch

from backprop_manual.check import ChainUsageError, verify_chain, verify_training
from tests.check import two_layer as tl
from tests.check.test_chain import neuron

LOW = [pytest.param(torch.bfloat16, id="bfloat16"), pytest.param(torch.float16, id="float16")]


def backward(fwd, **a):
    """the two-layer network's backward, and dJ/dX = dJ/dz1 W1^T"""
    g = tl.backward(fwd, **a)
    return {**g, "X": g["z1"] @ a["W1"].T}


def with_dX(dX):
    """the right backward, then dJ/dX = dX(g, W1)"""
    return lambda fwd, **a: {**backward(fwd, **a), "X": dX(tl.backward(fwd, **a), a["W1"])}


def test_an_input_is_a_row_in_chain_order_and_agrees(device, dtype):
    params, inputs = tl.example(dtype, device)
    report = verify_chain(tl.forward, backward, params, inputs, check_inputs=("X",))
    report.assert_ok()
    # X feeds z1 alone: its row right after z1's, beside the parameters that z1's operation uses
    assert [r.name for r in report.rows] == ["penalty", "sigma", "z2", "W2", "b2", "h", "zc", "z1", "W1", "b1", "X"]
    assert (report.autograd["X"].shape, report.autograd["X"].dtype) == (inputs["X"].shape, dtype)


@pytest.mark.parametrize("low", [pytest.param(None, id="run-dtype"), *LOW])
def test_an_inputs_row_is_judged_exactly_as_the_same_tensor_as_a_parameter(dtype, low):
    """The same error model: the row of X checked as an input is the row of X made a parameter, field for field
    (its allowance, its measured rounding, its float64 re-run in bfloat16 and float16)."""
    params, inputs = tl.example(low or dtype, "cpu")
    as_input = verify_chain(tl.forward, backward, params, inputs, check_inputs=("X",))
    as_param = verify_chain(tl.forward, backward, {**params, "X": inputs["X"]}, {"y": inputs["y"]})
    assert as_input.row("X") == as_param.row("X")
    assert as_input.row("X").ok
    assert as_input.row("X").rule in ("propagated", "measured"), "the rounding bound alone would not do"


def test_a_wrong_input_gradient_is_blamed_first_and_the_witness_moves_the_input(dtype):
    params, inputs = tl.example(dtype, "cpu")
    report = verify_chain(tl.forward, with_dX(lambda g, W1: (g["z1"] @ W1.T).T), params, inputs, check_inputs=("X",))
    assert (report.first_divergence.name, report.first_divergence.status) == ("X", "shape"), report.message()
    report = verify_chain(tl.forward, with_dX(lambda g, W1: g["zc"] @ W1.T), params, inputs, check_inputs=("X",))
    assert (report.first_divergence.name, report.first_divergence.status) == ("X", "MISMATCH"), report.message()
    assert all(r.ok for r in report.rows[:-1])
    witness = report.witness()
    assert (witness.parameter, witness.wrong) == ("X", "manual"), report.message()


@pytest.mark.parametrize("low", LOW)
def test_a_slip_inside_low_precisions_rounding_is_caught_in_float64_at_an_input(low):
    """dJ/dX off by 2^-10, far inside bfloat16's and float16's rounding: the float64 re-run checks X too."""
    params, inputs = tl.example(low, "cpu")
    report = verify_chain(
        tl.forward, with_dX(lambda g, W1: g["z1"] @ W1.T * (1 + 2**-10)), params, inputs, check_inputs=("X",)
    )
    first = report.first_divergence
    assert (first.name, first.status) == ("X", "MISMATCH"), report.message()
    assert first.problem.startswith("wrong as mathematics: in float64 on the same values upcast"), first.problem


def per_sample_forward(w, b, x, y):
    z = w * x + b
    sigma = torch.sigmoid(z)
    return {"z": z, "sigma": sigma, "loss": (sigma - y) ** 2}  # one J per sample


def per_sample_backward(fwd, w, b, x, y):
    d_z = fwd["sigma"] * (1 - fwd["sigma"]) * 2 * (fwd["sigma"] - y)
    return {"sigma": 2 * (fwd["sigma"] - y), "z": d_z, "w": x * d_z, "b": d_z, "x": w * d_z}


def test_per_sample_an_inputs_row_holds_each_samples_own_gradient(dtype):
    """dJ_i/dx_i, x's own shape: row i of the summed J's gradient, since the samples do not interact."""
    params, inputs = neuron(dtype)
    report = verify_chain(per_sample_forward, per_sample_backward, params, inputs, per_sample=True, check_inputs=["x"])
    report.assert_ok()
    assert [r.name for r in report.rows] == ["sigma", "z", "w", "b", "x"]
    x = inputs["x"].detach().requires_grad_(True)
    (summed,) = torch.autograd.grad(per_sample_forward(**params, x=x, y=inputs["y"])["loss"].sum(), x)
    assert torch.equal(report.autograd["x"], summed) and report.autograd["x"].shape == (7,)
    one = torch.func.grad(lambda xi: per_sample_forward(**params, x=xi, y=inputs["y"][3])["loss"])(inputs["x"][3])
    torch.testing.assert_close(report.autograd["x"][3], one, rtol=0, atol=0)

    def summed_over_the_batch(fwd, **a):
        return {**per_sample_backward(fwd, **a), "x": a["w"] * per_sample_backward(fwd, **a)["z"].mean()}

    wrong = verify_chain(per_sample_forward, summed_over_the_batch, params, inputs, per_sample=True, check_inputs=["x"])
    assert (wrong.first_divergence.name, wrong.first_divergence.index) == ("x", [0]), wrong.message()


@pytest.mark.parametrize("per_sample", [False, True], ids=["full-batch", "per-sample"])
def test_training_judges_an_input_at_every_step_and_never_updates_it(dtype, per_sample):
    params, inputs = tl.example(dtype, "cpu", N=16)
    X = inputs["X"].clone()
    report = verify_training(
        tl.forward, backward, params, inputs, lr=0.5, epochs=2, per_sample=per_sample, check_inputs=("X",)
    )
    report.assert_ok()
    assert set(report.manual) == set(report.autograd) == set(params), "only the parameters are trained"
    assert torch.equal(inputs["X"], X), "the input is left as it was"
    wrong = with_dX(lambda g, W1: g["zc"] @ W1.T)
    parted = verify_training(
        tl.forward, wrong, params, inputs, lr=0.5, epochs=2, per_sample=per_sample, check_inputs=("X",)
    )
    assert (parted.first.step, parted.first.parameter, parted.first.role) == (0, "X", "input"), parted.summary()
    assert ": MISMATCH, first at step 0, input X[" in parted.summary()


@pytest.mark.parametrize(
    "check_inputs, message",
    [
        pytest.param(
            ("Z",), r"check_inputs names 'Z', which is not among the inputs \('X', 'y', 'k'\)", id="not-an-input"
        ),
        pytest.param(("k",), "check_inputs names 'k', which is int64: only a floating-point tensor", id="not-floating"),
        pytest.param(("W1",), "check_inputs names 'W1', a parameter: a parameter's gradient is checked", id="a-param"),
        pytest.param("X", r"check_inputs is a collection of names, e.g. \('X',\), not a string", id="a-string"),
    ],
)
def test_a_name_that_cannot_be_an_input_to_check_is_a_usage_error(check_inputs, message):
    params, inputs = tl.example(torch.float64, "cpu")
    inputs["k"] = torch.arange(3)
    with pytest.raises(ChainUsageError, match=message):
        verify_chain(tl.forward, backward, params, inputs, check_inputs=check_inputs)
    with pytest.raises(ChainUsageError, match=message):
        verify_training(tl.forward, backward, params, inputs, lr=0.5, check_inputs=check_inputs)


def test_an_input_gradient_without_check_inputs_says_how_to_ask_for_it():
    params, inputs = tl.example(torch.float64, "cpu")
    with pytest.raises(ChainUsageError, match="an input's gradient is checked when named in check_inputs="):
        verify_chain(tl.forward, backward, params, inputs)


def test_per_sample_an_inputs_row_is_measured_where_the_rounding_bound_alone_would_not_do():
    """Monte Carlo on the summed J's backward, as for an intermediate (not vmap's, as for a parameter)."""
    params, inputs = neuron(torch.float32, n=569)
    report = verify_chain(per_sample_forward, per_sample_backward, params, inputs, per_sample=True, check_inputs=["x"])
    report.assert_ok()
    assert report.row("x").rule in ("propagated", "measured"), report.message()
