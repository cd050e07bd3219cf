"""neuron_check/verify.py: what verify_gradients reports, to the character where a reader or a parser depends on it (the
table, the first line), each number in it recomputed from its definition; compare_intermediate number by number; the
autograd side; and every sample, dtype, device and point against autograd. (The triage line: test_triage.py; the
trajectory summary: test_trajectory.py.)"""

import math
import re
from functools import cache

import pytest
import torch

from backprop_manual.check.model import MULTIPLIER
from backprop_manual.check.tolerances import tolerances
from backprop_manual.neuron import gradients
from backprop_manual.neuron.passes import CHAIN
from backprop_manual.neuron_check.verify import autograd_gradients, compare_intermediate, verify_gradients
from tests import shared

pytestmark = pytest.mark.wide_dtypes(
    "the lesson's neuron: backprop-manual runs it in float32 and float64 alone, its rounding bound an analysis of those"
)

CELL_DATA = shared.cell_data()  # float64 on the CPU; the last test moves it to each device and dtype
F64 = torch.float64
HEADER = "  intermediate                     |diff|        rel    allowed          u    ratio  at          status"
ROW = re.compile(
    r"^  (?P<name>delta_J_delta_\w+) +(?P<symbol>dJ/d\S) +(?P<abs>\S+) +(?P<rel>\S+) +(?P<allowance>\S+) +"
    r"(?P<u>\S+) +(?P<ratio>\S+)  sample (?P<id>\d+) +(?P<status>ok|MISMATCH|MISMATCH  <- first)$"
)
EPS64 = torch.finfo(torch.float64).eps
FIRST_LINE = re.compile(
    r"^(?P<name>\w+) \((?P<symbol>dJ/d\S)\) is the first intermediate to diverge, at sample (?P<id>\d+) "
    r"\(x = mean_area = (?P<x>\S+), y = is_cancerous = (?P<y>\S+)\), w = (?P<w>\S+), b = (?P<b>\S+), "
    r"on (?P<device>\w+) in (?P<dtype>\w+): manual (?P<manual>\S+) vs autograd (?P<autograd>\S+), "
    r"\|diff\| (?P<diff>\S+), allowed (?P<allowed>[^\s(]+)(?: \((?P<problem>.*)\))?$"
)


def dz_db_is_x(w, x, b, y):
    g = gradients(w, x, b, y)
    return g._replace(delta_J_delta_b=x * g.delta_J_delta_z)


def verification(manual=gradients, n=8, ids=None):
    w, b = shared.start(F64)
    ids = ids or [100 + i for i in range(n)]  # ids that are not positions: the report must show the ids
    # from sample 1 on: sample 0's x = 1.001 hides dz/db = x inside gradcheck's rtol 1e-3
    return verify_gradients(w, b, CELL_DATA.X[1 : n + 1], CELL_DATA.y[1 : n + 1], ids=ids, manual=manual)


def parse_table(v):
    header, *lines = v.table().split("\n")
    assert header == HEADER
    rows = [ROW.match(line) for line in lines]
    assert all(rows), lines
    return rows


def sign_flipped(w, x, b, y):  # every row disagrees: one "<- first", three plain MISMATCH
    g = gradients(w, x, b, y)
    return type(g)(*(-v for v in g))


@pytest.mark.parametrize(
    "manual", [gradients, dz_db_is_x, sign_flipped], ids=["agreeing", "dz_db-is-x", "sign-flipped"]
)
def test_table_rows_say_what_the_rows_hold(manual):
    v = verification(manual)
    for row, line in zip(v.report.rows, parse_table(v)):
        assert (line["name"], line["symbol"]) == (row.label, row.symbol)
        # every number at the sample shown: |diff| and rel there, never the largest from another sample
        for field, value in (("abs", row.diff), ("rel", row.rel), ("allowance", row.allowance)):
            assert float(line[field]) == pytest.approx(value, rel=1e-3, abs=0), field
        # printed with 3 significant digits (.3g): within 0.5% of the value
        assert float(line["u"]) == pytest.approx(row.uncertainty, rel=1e-3, abs=0)
        assert float(line["allowance"]) == pytest.approx(MULTIPLIER * row.uncertainty, rel=1e-3, abs=0)
        assert float(line["ratio"]) == pytest.approx(row.ratio_at, rel=5e-3)
        assert (float(line["abs"]) <= float(line["allowance"])) == row.ok  # the row's own numbers give its status
        if row.ok:
            assert row.ratio_at == pytest.approx(row.ratio, rel=1e-12)  # an agreeing row shows its largest ratio
        assert int(line["id"]) == v.ids[row.at] == 100 + row.at
        first = row is v.report.first_divergence
        assert line["status"] == ("ok" if row.ok else "MISMATCH  <- first" if first else "MISMATCH")
    assert v.table().count("MISMATCH") == sum(not r.ok for r in v.report.rows)


def test_the_table_shows_autograds_uncertainty_and_the_ratio_to_the_allowance(dtype):
    data = shared.cell_data(dtype)
    v = verify_gradients(*shared.start(dtype), data.X, data.y, ids=data.ids)
    header, *lines = v.table().splitlines()
    assert header == HEADER
    for row, line in zip(v.report.rows, lines):
        assert f"{row.uncertainty:>11.3e}{row.ratio_at:>9.3g}" in line and row.ratio_at == pytest.approx(row.ratio)
        # three roundings a side at most (tests/check/test_tolerances.py): 6 u of the 8 allowed, a ratio <= 0.75
        assert row.ratio <= 0.75 and row.headroom > 1, line


def test_first_line_says_where_and_by_how_much():
    v = verification(dz_db_is_x)
    row = v.report.first_divergence
    line = FIRST_LINE.match(v.message().split("\n")[0])
    assert line, v.message()
    assert (line["name"], line["symbol"], int(line["id"])) == ("delta_J_delta_b", "dJ/db", 100 + row.at)
    assert (float(line["x"]), float(line["y"])) == (float(v.X[row.at]), float(v.y[row.at]))
    assert (line["w"], line["b"], line["device"], line["dtype"]) == ("2", "-2", "cpu", "float64")
    assert float(line["diff"]) == pytest.approx(abs(row.manual - row.autograd), rel=1e-2)
    assert float(line["allowed"]) == pytest.approx(row.allowance, rel=1e-2)
    assert line["problem"] is None, "a plain value mismatch needs no parenthesis"


def dz_dw_off_by_1e_9(w, x, b, y):
    g = gradients(w, x, b, y)
    return g._replace(delta_J_delta_w=g.delta_J_delta_w * (1 + 1e-9))


def test_a_float64_relative_error_of_1e_9_is_caught_by_the_rule_it_states():
    v = verification(dz_dw_off_by_1e_9)
    row = v.report.first_divergence
    line = FIRST_LINE.match(v.message().split("\n")[0])
    assert line["problem"] is None, "a value mismatch: the numbers are on the line"
    assert row.close, "assert_close's float64 default alone would pass it"
    assert row.allowance == pytest.approx(MULTIPLIER * 0.5 * EPS64 * abs(row.autograd))
    assert row.problem == (
        f"|manual - autograd| {abs(row.manual - row.autograd):.3g} > allowed {row.allowance:.3g} = 8 u, "
        f"u = {row.uncertainty:.3g}: ½·ε·|autograd|, the rounding of autograd's own result"
    )


def test_the_message_carries_the_triage_of_the_given_gradient_function():
    v = verification(dz_db_is_x)
    triage_line = v.message().split("\n")[1]
    assert triage_line == f"  {v.triage()}"
    assert v.triage().gradcheck["delta_J_delta_b"], "gradcheck ran on dz_db_is_x, not on the package's gradients"
    assert "first fails at delta_J_delta_b: Jacobian mismatch: numerical " in triage_line
    rtol, atol = tolerances(F64)
    assert v.triage().allowance == atol + rtol * abs(v.triage().witness)


def test_assert_ok_raises_the_message_and_hides_its_own_frame():
    v = verification(dz_db_is_x)
    with pytest.raises(AssertionError) as excinfo:
        v.assert_ok()
    assert str(excinfo.value) == v.message()
    hides = [
        e.frame.f_locals["__tracebackhide__"] for e in excinfo.traceback if "__tracebackhide__" in e.frame.f_locals
    ]
    assert hides == [True], "pytest must show the test's line, not assert_ok's"


# --- compare_intermediate, number by number ---------------------------------------------------------------------------


def t64(*values):
    return torch.tensor(values, dtype=F64)


def ulps_above(value: float, n: int) -> float:
    v = torch.tensor(value, dtype=F64)
    for _ in range(n):
        v = torch.nextafter(v, torch.tensor(math.inf, dtype=F64))
    return float(v)


def test_the_allowance_is_inclusive():
    # at 1.0, u = ½ε and the allowance 8 u = 4ε: 4 ULP above 1.0 is exactly on it, 5 over
    at_edge = compare_intermediate("delta_J_delta_z", t64(ulps_above(1.0, 4)), t64(1.0))
    over = compare_intermediate("delta_J_delta_z", t64(1.0, ulps_above(1.0, 5), ulps_above(1.0, 5)), t64(1.0, 1.0, 1.0))
    assert (at_edge.ok, at_edge.ratio) == (True, 1.0)
    assert (over.ok, over.close, over.at, over.mismatched) == (False, True, 1, 2), "the first sample over it"


def test_the_first_sample_over_the_allowance_is_the_one_shown():
    # sample 0: 5e-8 from 0, inside assert_close's atol 1e-7 yet far past the rounding of 0; sample 1: 5e-7 from 1
    row = compare_intermediate("delta_J_delta_z", t64(5e-8, 1 + 5e-7), t64(0.0, 1.0))
    assert (row.ok, row.close, row.at, row.mismatched) == (False, False, 0, 2)
    assert row.allowance == MULTIPLIER * EPS64 * torch.finfo(F64).smallest_normal  # one subnormal ULP, times 8


def test_an_agreeing_row_shows_the_sample_with_the_least_headroom():
    row = compare_intermediate("delta_J_delta_z", t64(100.0, ulps_above(0.5, 3)), t64(100.0, 0.5))
    assert (row.ok, row.at) == (True, 1), "|diff| 0 at 100 leaves infinite headroom; 3 ULP at 0.5 does not"
    assert row.headroom == pytest.approx((MULTIPLIER * 0.5 * EPS64 * 0.5) / (ulps_above(0.5, 3) - 0.5))
    assert row.allowance == MULTIPLIER * 0.5 * EPS64 * 0.5


def test_relative_differences_count_0_over_0_as_agreement_and_x_over_0_as_infinite():
    row = compare_intermediate("delta_J_delta_z", t64(2.5, 0.0), t64(2.0, 0.0))
    assert row.rel_diff == 0.25 and row.abs_diff == 0.5
    assert compare_intermediate("delta_J_delta_z", t64(1e-9), t64(0.0)).rel_diff == math.inf
    assert compare_intermediate("delta_J_delta_z", t64(1.0), t64(1.0)).headroom == math.inf


def test_a_collapsed_batch_is_compared_by_broadcasting_at_every_sample():
    """The lesson's torch.sum gives one number for a batch: right for sample 0 here, wrong from sample 1 on."""
    autograd = t64(-0.5, -0.25, -0.75)
    row = compare_intermediate("delta_J_delta_sigma", torch.tensor(-0.5, dtype=F64), autograd)
    assert (row.ok, row.close, row.at, row.manual) == (False, False, 1, -0.5)
    assert "shape" in row.problem


# --- the pieces the verification relies on ----------------------------------------------------------------------------


def test_autograd_side_takes_an_integer_target_as_the_lesson_does():
    w, b = shared.start(F64)
    as_int = autograd_gradients(w, CELL_DATA.X[:4], b, CELL_DATA.y[:4].long())
    as_float = autograd_gradients(w, CELL_DATA.X[:4], b, CELL_DATA.y[:4])
    for name in as_float._fields:
        torch.testing.assert_close(getattr(as_int, name), getattr(as_float, name))


def test_the_per_sample_leaf_oracle_is_bit_for_bit_verify_gradients_vmap_oracle(dtype):
    """reference.autograd_gradients (one leaf per sample) and verify_gradients (verify_chain's torch.func.vmap) ask
    the same oracle two ways: the same gradients, bit for bit, on every sample."""
    data, (w, b) = shared.cell_data(dtype), shared.start(dtype)
    leaf, chain = autograd_gradients(w, data.X, b, data.y), verify_gradients(w, b, data.X, data.y).autograd
    for name in leaf._fields:
        assert torch.equal(getattr(leaf, name), getattr(chain, name)), name


# ----------------------------------------
# Every sample, dtype, device and parameter point: each hand-derived intermediate against autograd, in chain order.

POINTS = [pytest.param((2.0, -2.0), id="w2_b-2")]  # the lesson's starting point
_rng = torch.Generator().manual_seed(20261128)
POINTS += [  # seeded random points, rounded so that the id says exactly where
    pytest.param((w, b), id=f"w{w:g}_b{b:g}")
    for w, b in (torch.rand((3, 2), generator=_rng, dtype=torch.float64) * 8 - 4).round(decimals=2).tolist()
]


@cache
def all_samples_verified(device, dtype, point):
    """verify_gradients over all 569 samples at once, computed once per (device, dtype, point) and process, then
    read by the four cases of its intermediates: the rows are per sample (no floor or tolerance is shared between
    samples), so a row over the 569 samples passes exactly when each sample's own row would, as
    `backprop-manual verify` computes it in one batch. (A one-element batch can take torch's scalar kernels, 1 ULP
    away from the vectorized ones: tests/neuron/test_passes.py verifies one-sample inputs.)"""
    w, b = (torch.tensor(p, dtype=dtype, device=device) for p in point)
    X, y = (t.to(device=device, dtype=dtype) for t in (CELL_DATA.X, CELL_DATA.y))
    return verify_gradients(w, b, X, y, ids=CELL_DATA.ids)


def intermediate_failure(v, field: str) -> str | None:
    """None when the intermediate agrees on every sample; else its first divergent sample (id, x, y), how far and
    against what allowance, then the verification's message: the first intermediate to diverge in chain order (this
    one or an earlier one), the triage and the whole table."""
    row = v.report.rows[CHAIN.index(field)]
    if row.ok:
        return None
    if row is v.report.first_divergence:
        return v.message()
    return (
        f"{row.label} ({row.symbol}) diverges at {v.sample(row.at)}, {v.where()}: manual {row.manual:.8g} vs "
        f"autograd {row.autograd:.8g}, |diff| {abs(row.manual - row.autograd):.3g}, allowed {row.allowance:.3g}"
        f"{'' if row.status == 'MISMATCH' and not row.close else ' (' + row.problem + ')'}"  # as message() words it
        f"; an earlier intermediate diverges first:\n{v.message()}"
    )


def test_a_cases_failure_names_its_first_divergent_sample_then_the_table():
    v = verification(dz_db_is_x)  # dJ/db diverges first; dJ/dsigma, dJ/dz and dJ/dw agree
    assert [intermediate_failure(v, f) is None for f in CHAIN] == [True, True, True, False]
    assert intermediate_failure(v, "delta_J_delta_b") == v.message()
    first, row = FIRST_LINE.match(v.message().split("\n")[0]), v.report.rows[3]
    assert (first["name"], first["id"], first["x"]) == ("delta_J_delta_b", str(v.ids[row.at]), f"{v.X[row.at]:.6g}")
    assert v.message().endswith(v.table())
    v = verification(sign_flipped)  # every row disagrees: dJ/dsigma first, the later ones name their own sample
    later = intermediate_failure(v, "delta_J_delta_w")
    assert later.startswith(f"delta_J_delta_w (dJ/dw) diverges at {v.sample(v.report.rows[2].at)}, w = 2, b = -2, ")
    assert later.endswith(f"an earlier intermediate diverges first:\n{v.message()}")


@pytest.mark.parametrize("field", CHAIN, ids=lambda f: f.replace("delta_J_delta_", "dJ_d"))  # [...-w2_b-2-dJ_dz]
@pytest.mark.parametrize("point", POINTS)
def test_every_intermediate_matches_autograd(device, dtype, point, field):
    """One intermediate over all 569 samples: its first divergent sample and the table in the failure."""
    v = all_samples_verified(device, dtype, point)
    assert v.ids == CELL_DATA.ids
    failure = intermediate_failure(v, field)
    assert failure is None, failure
    row = v.report.rows[CHAIN.index(field)]
    assert row.numel == len(CELL_DATA.ids), f"{row.label} compared {row.numel} of {len(CELL_DATA.ids)} samples"
    ran_on = {(t.device.type, t.dtype) for t in (getattr(v.manual, field), getattr(v.autograd, field))}
    assert ran_on == {(device, dtype)}, f"the case says {device}/{dtype} but its gradients were on {ran_on}"
