"""The third witness: the complex step agrees with both sides where they are right, gradcheck checks our chain rule,
and the triage names the wrong side."""

import pytest
import torch

from backprop_manual.check.tolerances import ulp_distance
from backprop_manual.neuron import gradients, local_derivatives
from backprop_manual.neuron.passes import CHAIN
from backprop_manual.neuron_check.triage import (
    SIDING,
    Triage,
    _one_line,
    complex_step_gradients,
    gradcheck_intermediates,
)
from backprop_manual.neuron_check.verify import autograd_gradients, verify_gradients
from tests.shared import cell_data, start

pytestmark = pytest.mark.wide_dtypes(
    "the lesson's neuron: backprop-manual runs it in float32 and float64 alone, its rounding bound an analysis of those"
)

CELL_DATA = cell_data()
W, B = start()
# Measured over the 569 samples at w = 2, b = -2: the witness is at most 10 float64 ULP from autograd (it computes
# sigma by complex exp and division, and J's sigma - y cancels near y), 8 float32 ULP from a float32 autograd.
WITNESS_ULPS = 16


@pytest.mark.parametrize("name", CHAIN)
def test_complex_step_agrees_with_autograd_on_the_cell_data(dtype, name):
    w, b, X, y = W.to(dtype), B.to(dtype), CELL_DATA.X.to(dtype), CELL_DATA.y.to(dtype)
    witness = getattr(complex_step_gradients(w, X, b, y), name)
    autograd = getattr(autograd_gradients(w, X, b, y), name)
    assert witness.dtype == torch.float64
    torch.testing.assert_close(autograd, witness.to(dtype))
    assert float(ulp_distance(witness, autograd).max()) <= WITNESS_ULPS


@pytest.mark.parametrize("step", [2.0**-30, 2.0**-200, 2.0**-600], ids=["h2^-30", "h2^-200", "h2^-600"])
def test_complex_step_has_no_step_to_tune(monkeypatch, step):
    """Central differences lose digits to cancellation as eps shrinks; the complex step subtracts nothing."""
    import backprop_manual.neuron_check.triage as witness

    reference = complex_step_gradients(W, CELL_DATA.X, B, CELL_DATA.y)
    monkeypatch.setattr(witness, "STEP", step)
    other = complex_step_gradients(W, CELL_DATA.X, B, CELL_DATA.y)
    for name in CHAIN:
        torch.testing.assert_close(getattr(other, name), getattr(reference, name), rtol=0, atol=0, msg=name)


def test_gradcheck_passes_the_manual_chain_rule():
    verdicts = gradcheck_intermediates(W, CELL_DATA.X[:8], B, CELL_DATA.y[:8])
    assert verdicts == dict.fromkeys(CHAIN, "")


@pytest.mark.parametrize(
    "attribute, wrong, first_failing",
    [
        pytest.param("delta_J_delta_sigma", lambda y_hat, y: y_hat - y, "delta_J_delta_sigma", id="factor-2-dropped"),
        pytest.param(
            "delta_sigma_delta_z", lambda z, sigma=None: torch.sigmoid(z), "delta_J_delta_z", id="sigma-for-dsigma"
        ),
        pytest.param("delta_z_delta_w", lambda x: torch.ones_like(x), "delta_J_delta_w", id="dz_dw-is-1"),
    ],
)
def test_gradcheck_fails_a_wrong_chain_rule_at_its_intermediate(monkeypatch, attribute, wrong, first_failing):
    monkeypatch.setattr(local_derivatives, attribute, wrong)
    verdicts = gradcheck_intermediates(W, CELL_DATA.X[:3], B, CELL_DATA.y[:3])
    assert next(name for name, problem in verdicts.items() if problem) == first_failing
    assert verdicts[first_failing].startswith("Jacobian mismatch: numerical ")


def test_gradcheck_checks_the_gradient_function_it_is_given():
    def dz_db_is_x(w, x, b, y):
        g = gradients(w, x, b, y)
        return g._replace(delta_J_delta_b=x * g.delta_J_delta_z)

    verdicts = gradcheck_intermediates(W, CELL_DATA.X[1:2], B, CELL_DATA.y[1:2], dz_db_is_x)
    assert [name for name, problem in verdicts.items() if problem] == ["delta_J_delta_b"]


def test_gradcheck_runs_in_float64_whatever_it_is_given():
    (w, b), x, y = start(torch.float32), CELL_DATA.X[:2].float(), CELL_DATA.y[:2].float()
    assert gradcheck_intermediates(w, x, b, y) == {
        name: "" for name in ("delta_J_delta_sigma", "delta_J_delta_z", "delta_J_delta_w", "delta_J_delta_b")
    }


def test_gradchecks_message_on_one_line():
    jacobian = (
        "Jacobian mismatch for output 0 with respect to input 0,\nnumerical:tensor([[-0.2497,  0.0000],\n"
        "        [ 0.0000, -0.1543]], dtype=torch.float64)\nanalytical:tensor([[-0.5000, -0.0000],\n"
        "        [-0.0000, -0.4504]], dtype=torch.float64)\n"
    )
    assert _one_line(jacobian) == (
        "Jacobian mismatch: numerical -0.2497, 0.0000, 0.0000, -0.1543, analytical -0.5000, -0.0000, -0.0000, -0.4504"
    )
    assert _one_line("Backward is not reentrant,\n  i.e., running backward twice\n") == (
        "Backward is not reentrant, i.e., running backward twice"
    )


def test_triage_blames_autograd_when_the_oracle_is_wrong():
    def tanh_oracle(w, x, b, y):  # an autograd side with tanh for sigmoid: its sigma and everything after differ
        w_leaf, b_leaf = (p.detach().expand(x.shape).clone().requires_grad_(True) for p in (w, b))
        z = w_leaf * x + b_leaf
        sigma = torch.tanh(z)
        sigma.retain_grad(), z.retain_grad()
        ((sigma - y) ** 2).sum().backward()
        return type(gradients(w, x, b, y))(sigma.grad, z.grad, w_leaf.grad, b_leaf.grad)

    v = verify_gradients(W, B, CELL_DATA.X, CELL_DATA.y, autograd=tanh_oracle)
    triage = v.triage()
    assert (triage.name, triage.wrong) == ("delta_J_delta_sigma", "autograd")
    assert "the autograd side is wrong" in v.message().splitlines()[1]
    assert "passes every intermediate" in v.message().splitlines()[1], "the manual chain rule itself is right"


def test_no_triage_when_all_agree():
    assert verify_gradients(W, B, CELL_DATA.X, CELL_DATA.y).triage() is None


@pytest.mark.parametrize(
    "manual, autograd, wrong",
    [
        pytest.param(1.0, 0.0 + 1e-3, "manual", id="witness-next-to-autograd"),
        pytest.param(1e-3, 1.0, "autograd", id="witness-next-to-manual"),
        pytest.param(0.5, -0.5, "undecided", id="witness-halfway"),
        pytest.param(1.0, 1.0 / (SIDING - 0.5), "undecided", id="closer-but-not-by-the-factor"),
    ],
)
def test_triage_sides_with_the_one_the_witness_is_clearly_nearer(manual, autograd, wrong):
    triage = Triage("delta_J_delta_z", manual, autograd, witness=0.0, allowance=1e-7, gradcheck={})
    assert triage.wrong == wrong
    assert ("cannot tell" in str(triage)) == (wrong == "undecided")


def triage(manual, autograd, witness=0.0, gradcheck=None):
    return Triage("delta_J_delta_z", manual, autograd, witness, allowance=1e-7, gradcheck=gradcheck or {"a": ""})


PREFIX = "triage: the witness (complex step, complex128) gives delta_J_delta_z = "
PASSES = "gradcheck of the manual chain rule (float64 central differences, rtol 1e-3) passes every intermediate there"


@pytest.mark.parametrize(
    "t, text",
    [
        pytest.param(triage(1.0, 1.0, 1.0 + 1e-9), None, id="no-disagreement"),
        pytest.param(
            triage(2.0, 1.0, 1.0),
            f"{PREFIX}1; manual is 1 from it, autograd 0: the manual side is wrong. {PASSES}",
            id="manual-wrong",
        ),
        pytest.param(
            triage(0.0, 1e-7, 1.0),
            f"{PREFIX}1; manual is 1 from it, autograd 1: the witness cannot tell which side is wrong. {PASSES}",
            id="undecided",
        ),
        pytest.param(
            triage(1e-7, 1.0),
            f"{PREFIX}0; manual is 1e-07 from it, autograd 1: the autograd side is wrong. {PASSES}",
            id="autograd-wrong-manual-at-the-allowance",
        ),
        pytest.param(
            triage(2e-7, 1.0, gradcheck={"delta_J_delta_sigma": "", "delta_J_delta_z": "Jacobian mismatch: x"}),
            f"{PREFIX}0; manual is 2e-07 from it, autograd 1: the autograd side is wrong (and manual too is off by "
            "more than the allowed 1e-07). gradcheck of the manual chain rule (float64 central differences) first "
            "fails at delta_J_delta_z: Jacobian mismatch: x",
            id="both-off-gradcheck-fails",
        ),
    ],
)
def test_triage_line(t, text):
    if text is None:
        assert t.wrong == "undecided"
    else:
        assert str(t) == text
