"""Tests of the tests: deliberately wrong derivations, each run through the verification on the whole cell data set.
Each must fail, blame the right intermediate first, and be triaged onto the right side by the witness."""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch

from backprop_manual.neuron import gradients, local_derivatives
from backprop_manual.neuron.lesson import lesson_delta_J_delta_sigma
from backprop_manual.neuron.passes import CHAIN, Gradients
from backprop_manual.neuron_check.verify import autograd_gradients, verify_gradients
from tests.shared import cell_data, start

pytestmark = pytest.mark.wide_dtypes(
    "the lesson's neuron: backprop-manual runs it in float32 and float64 alone, its rounding bound an analysis of those"
)

CELL_DATA = cell_data()


@dataclass(frozen=True)
class Mutant:
    dtype: torch.dtype
    blamed: str  # the first intermediate that must diverge
    ok_rows: tuple[bool, bool, bool, bool]  # every row's expected verdict, in chain order
    caught_by: (
        str  # "assert_close" or "ulp": assert_close's default catches it too, or only the error model (Row.close)
    )
    patch: dict[str, Callable] | None = None  # local_derivatives attribute -> wrong function
    manual: Callable | None = None  # or a whole wrong gradient function
    oracle: Callable | None = None  # or a wrong autograd side
    wrong: str = "manual"  # the side the triage must blame


def with_grads(change):
    """A gradient function: the package's gradients, then `change(g, w, x, b, y)` applied to them."""
    return lambda w, x, b, y: change(gradients(w, x, b, y), w, x, b, y)


def in_float32(w, x, b, y):
    """The whole chain computed in float32, the result handed back as float64: ~6e-8 relative error per value."""
    g = gradients(*(t.float() for t in (w, x, b, y)))
    return Gradients(*(v.double() for v in g))


def float32_oracle(w, x, b, y):
    a = autograd_gradients(*(t.float() for t in (w, x, b, y)))
    return Gradients(*(v.double() for v in a))


ALL_WRONG, F32, F64 = (False, False, False, False), torch.float32, torch.float64
MUTANTS = {
    # dJ/dsigma = 2 (sigma - y)
    "factor-2-dropped": Mutant(F64, CHAIN[0], ALL_WRONG, "assert_close", {"delta_J_delta_sigma": lambda s, y: s - y}),
    "sign-flipped": Mutant(F32, CHAIN[0], ALL_WRONG, "assert_close", {"delta_J_delta_sigma": lambda s, y: 2 * (y - s)}),
    "lessons-sum-over-the-batch": Mutant(
        F64, CHAIN[0], ALL_WRONG, "assert_close", {"delta_J_delta_sigma": lesson_delta_J_delta_sigma}
    ),
    # dsigma/dz = sigma (1 - sigma)
    "sigma-for-sigma(1-sigma)": Mutant(
        F32,
        CHAIN[1],
        (True, False, False, False),
        "assert_close",
        {"delta_sigma_delta_z": lambda z, sigma=None: torch.sigmoid(z)},
    ),
    "1-sigma-for-sigma(1-sigma)": Mutant(
        F64,
        CHAIN[1],
        (True, False, False, False),
        "assert_close",
        {"delta_sigma_delta_z": lambda z, sigma=None: 1 - torch.sigmoid(z)},
    ),
    "sign-flipped-in-dsigma_dz": Mutant(
        F64,
        CHAIN[1],
        (True, False, False, False),
        "assert_close",
        {"delta_sigma_delta_z": lambda z, sigma=None: torch.sigmoid(z) * (torch.sigmoid(z) - 1)},
    ),
    "sigmoid-of-sigma-for-sigmoid-of-z": Mutant(
        F32,
        CHAIN[1],
        (True, False, False, False),
        "assert_close",
        {"delta_sigma_delta_z": lambda z, sigma=None: torch.sigmoid(sigma) * (1 - torch.sigmoid(sigma))},
    ),
    # dz/dw = x, dz/db = 1
    "dz_dw-is-1": Mutant(
        F64, CHAIN[2], (True, True, False, True), "assert_close", {"delta_z_delta_w": torch.ones_like}
    ),
    "dz_dw-is-w": Mutant(
        F32,
        CHAIN[2],
        (True, True, False, True),
        "assert_close",
        manual=with_grads(lambda g, w, x, b, y: g._replace(delta_J_delta_w=w * g.delta_J_delta_z)),
    ),
    "lessons-first_x-for-x": Mutant(  # In [95]: delta_z_delta_w(first_x) at every sample
        F64,
        CHAIN[2],
        (True, True, False, True),
        "assert_close",
        manual=with_grads(lambda g, w, x, b, y: g._replace(delta_J_delta_w=x[0] * g.delta_J_delta_z)),
    ),
    "dz_db-is-x": Mutant(
        F64,
        CHAIN[3],
        (True, True, True, False),
        "assert_close",
        manual=with_grads(lambda g, w, x, b, y: g._replace(delta_J_delta_b=x * g.delta_J_delta_z)),
    ),
    "lessons-dJ_dw-shown-for-dJ_db": Mutant(  # In [57] prints dJ_dw under dJ_db
        F32,
        CHAIN[3],
        (True, True, True, False),
        "assert_close",
        manual=with_grads(lambda g, w, x, b, y: g._replace(delta_J_delta_b=g.delta_J_delta_w)),
    ),
    # errors below assert_close's float64 tolerance: only the error model's allowance (a few ULPs) sees them
    "relative-error-1e-6-in-float64": Mutant(
        F64,
        CHAIN[1],
        (True, False, False, False),
        "assert_close",
        manual=with_grads(
            lambda g, w, x, b, y: g._replace(
                delta_J_delta_z=g.delta_J_delta_z * (1 + 1e-6),
                delta_J_delta_w=g.delta_J_delta_w * (1 + 1e-6),
                delta_J_delta_b=g.delta_J_delta_b * (1 + 1e-6),
            )
        ),
    ),
    "relative-error-1e-8-in-float64": Mutant(
        F64,
        CHAIN[2],
        (True, True, False, True),
        "ulp",
        manual=with_grads(lambda g, w, x, b, y: g._replace(delta_J_delta_w=g.delta_J_delta_w * (1 + 1e-8))),
    ),
    "relative-error-1e-6-in-float32": Mutant(
        F32,
        CHAIN[3],
        (True, True, True, False),
        "ulp",
        manual=with_grads(lambda g, w, x, b, y: g._replace(delta_J_delta_b=g.delta_J_delta_b * (1 + 1e-6))),
    ),
    "float64-result-computed-in-float32": Mutant(F64, CHAIN[0], ALL_WRONG, "ulp", manual=in_float32),
    "float64-dsigma_dz-computed-in-float32": Mutant(
        F64,
        CHAIN[1],
        (True, False, False, False),
        "ulp",
        {"delta_sigma_delta_z": lambda z, sigma=None: (sigma.float() * (1 - sigma.float())).double()},
    ),
    # the autograd side wrong: the triage must say so
    "autograd-oracle-in-float32": Mutant(F64, CHAIN[0], ALL_WRONG, "ulp", oracle=float32_oracle, wrong="autograd"),
}


@pytest.mark.parametrize("mutant", [pytest.param(m, id=name) for name, m in MUTANTS.items()])
def test_a_wrong_derivation_fails_and_blames_its_intermediate(monkeypatch, mutant):
    for attribute, wrong in (mutant.patch or {}).items():
        monkeypatch.setattr(local_derivatives, attribute, wrong)
    w, b = start(mutant.dtype)
    X, y = CELL_DATA.X.to(mutant.dtype), CELL_DATA.y.to(mutant.dtype)
    v = verify_gradients(
        w,
        b,
        X,
        y,
        ids=CELL_DATA.ids,
        manual=mutant.manual or gradients,
        autograd=mutant.oracle or autograd_gradients,
    )
    assert not v.ok, "the mutant survived the verification"
    first = v.report.first_divergence
    assert first.label == mutant.blamed, v.message()
    assert tuple(r.ok for r in v.report.rows) == mutant.ok_rows, v.message()
    assert first.close == (mutant.caught_by == "ulp"), f"expected to be caught by {mutant.caught_by}: {first.problem}"
    message = v.message()
    assert message.startswith(f"{first.label} ({first.symbol}) is the first intermediate to diverge, at sample ")
    triage = v.triage()
    assert triage.wrong == mutant.wrong, message
    assert f"the {mutant.wrong} side is wrong" in message.splitlines()[1]


def test_every_intermediate_is_blamed_by_some_mutant_and_both_criteria_catch_some():
    """The mutants cover the chain: a list that only ever broke dJ/dsigma would not show that blame works."""
    assert {m.blamed for m in MUTANTS.values()} == set(CHAIN)
    assert {m.caught_by for m in MUTANTS.values()} == {"assert_close", "ulp"}
    assert {m.wrong for m in MUTANTS.values()} == {"manual", "autograd"}
    assert {m.dtype for m in MUTANTS.values()} == {F32, F64}


# ----------------------------------------
# A wrong derivation must fail, and the failure must name the first wrong intermediate in chain order.


def verify_first_samples(dtype=torch.float64, n=5):
    w, b = start(dtype)
    X, y = CELL_DATA.X[:n].to(dtype), CELL_DATA.y[:n].to(dtype)
    return verify_gradients(w, b, X, y, ids=CELL_DATA.ids[:n])


def test_sigma_in_place_of_its_derivative_is_blamed_on_dJ_dz(monkeypatch, dtype):
    monkeypatch.setattr(local_derivatives, "delta_sigma_delta_z", lambda z, sigma=None: torch.sigmoid(z))
    v = verify_first_samples(dtype)
    assert not v.ok
    assert [r.ok for r in v.report.rows] == [True, False, False, False]
    message = v.message()
    first_line = message.splitlines()[0]
    assert first_line.startswith("delta_J_delta_z (dJ/dz) is the first intermediate to diverge, at sample 0")
    assert f"in {str(dtype).removeprefix('torch.')}" in first_line and "on cpu" in first_line
    assert "x = mean_area = 1.001, y = is_cancerous = 1" in first_line
    # the whole table follows: the echoes in dJ/dw and dJ/db are listed, not hidden
    assert message.count("MISMATCH") == 3 and "MISMATCH  <- first" in message
    assert "delta_J_delta_sigma  dJ/dσ" in message


def test_a_wrong_sign_in_dJ_dsigma_is_blamed_on_the_top_of_the_chain(monkeypatch):
    monkeypatch.setattr(local_derivatives, "delta_J_delta_sigma", lambda y_hat, y: 2 * (y - y_hat))
    v = verify_first_samples()
    assert v.report.first_divergence.label == "delta_J_delta_sigma"
    assert [r.ok for r in v.report.rows] == [False, False, False, False]


def test_a_wrong_dz_dw_leaves_dJ_db_agreeing(monkeypatch):
    monkeypatch.setattr(local_derivatives, "delta_z_delta_w", lambda x: torch.ones_like(x))
    v = verify_first_samples()
    assert [r.ok for r in v.report.rows] == [True, True, False, True]
    assert v.report.first_divergence.label == "delta_J_delta_w"


def test_the_lessons_summing_dJ_dsigma_is_caught_on_a_batch(monkeypatch):
    from backprop_manual.neuron.lesson import lesson_delta_J_delta_sigma

    monkeypatch.setattr(local_derivatives, "delta_J_delta_sigma", lesson_delta_J_delta_sigma)
    v = verify_first_samples(n=5)
    assert v.report.first_divergence.label == "delta_J_delta_sigma"
    assert "shape" in v.report.first_divergence.problem.lower()


def test_first_divergent_sample_is_the_first_out_of_tolerance():
    w, b = start()

    def manual(w, x, b, y):  # correct except from sample position 3 on
        from backprop_manual.neuron.passes import gradients

        g = gradients(w, x, b, y)
        return g._replace(delta_J_delta_b=g.delta_J_delta_b + (torch.arange(x.numel()) >= 3) * 1e-3)

    v = verify_gradients(w, b, CELL_DATA.X[:6], CELL_DATA.y[:6], ids=CELL_DATA.ids[:6], manual=manual)
    row = v.report.first_divergence
    assert (row.label, row.at) == ("delta_J_delta_b", 3)
    assert "at sample 3 " in v.message()
    assert row.abs_diff == pytest.approx(1e-3) and row.allowance < 1e-6


def test_the_lessons_dtype_mix_says_what_torch_did_and_never_blames_autograd():
    """The lesson's w = torch.tensor(2.) is a 0-d float32; with a float64 sample torch computes z in float64 [1]."""
    v = verify_gradients(torch.tensor(2.0), torch.tensor(-2.0), CELL_DATA.X[:1], CELL_DATA.y[:1], ids=CELL_DATA.ids[:1])
    message = v.message()
    assert not v.ok
    assert v.report.first_divergence.status == "dtype"
    assert "torch promoted w (float32 of shape []) to float64 of shape [1] in z" in message
    assert "autograd side is wrong" not in message
