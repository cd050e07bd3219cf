"""Tests of the tests: deliberately wrong derivations, each run through the verification on the whole cell data set.
Each must fail, blame the right intermediate first, and be triaged onto the right side by the witness."""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch

from backprop_manual import gradients, load_cell_data, local_derivatives
from backprop_manual.lesson import lesson_delta_J_delta_sigma
from backprop_manual.passes import CHAIN, Gradients
from backprop_manual.reference import autograd_gradients
from backprop_manual.verify import verify_gradients

CELL_DATA = load_cell_data()


@dataclass(frozen=True)
class Mutant:
    dtype: torch.dtype
    blamed: str  # the first intermediate that must diverge
    ok_rows: tuple[bool, bool, bool, bool]  # every row's expected verdict, in chain order
    caught_by: str  # "assert_close" or "ulp": which criterion must catch it
    patch: dict[str, Callable] | None = None  # local_derivatives attribute -> wrong function
    manual: Callable | None = None  # or a whole wrong gradient function
    reference: Callable | None = None  # or a wrong autograd side
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
    # errors below assert_close's float64 tolerance: only the ULP budget sees them
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
    "autograd-oracle-in-float32": Mutant(F64, CHAIN[0], ALL_WRONG, "ulp", reference=float32_oracle, wrong="autograd"),
}


@pytest.mark.parametrize("mutant", [pytest.param(m, id=name) for name, m in MUTANTS.items()])
def test_a_wrong_derivation_fails_and_blames_its_intermediate(monkeypatch, mutant):
    for attribute, wrong in (mutant.patch or {}).items():
        monkeypatch.setattr(local_derivatives, attribute, wrong)
    w, b = torch.tensor(2.0, dtype=mutant.dtype), torch.tensor(-2.0, dtype=mutant.dtype)
    X, y = CELL_DATA.X.to(mutant.dtype), CELL_DATA.y.to(mutant.dtype)
    v = verify_gradients(
        w,
        b,
        X,
        y,
        ids=CELL_DATA.ids,
        manual=mutant.manual or gradients,
        reference=mutant.reference or autograd_gradients,
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
