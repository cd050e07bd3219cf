"""Precision, stated: ULP distances, the neuron's rounding bound measured against 100,000 random points, and
saturation."""

import math
from functools import cache

import pytest
import torch

from backprop_manual import nn_sgd_descent
from backprop_manual.check.model import MULTIPLIER, eps, rounding_bound
from backprop_manual.check.tolerances import DEFAULT_TOLERANCES, tolerances, ulp_distance
from backprop_manual.neuron import gradient_descent, gradients
from backprop_manual.neuron.passes import CHAIN
from backprop_manual.neuron_check.triage import complex_step_gradients
from backprop_manual.neuron_check.verify import autograd_gradients, verify_gradients

pytestmark = pytest.mark.wide_dtypes(
    "the lesson's neuron: backprop-manual runs it in float32 and float64 alone, its rounding bound an analysis of those"
)

# Rounding bound per intermediate, in units of u = ½·ε·|autograd| (check/model.py): manual and autograd round the
# same product in another order, r roundings a side (dJ/dz, dJ/db 2, dJ/dw 3), each within ½ε: |m - a| <= 2r u.
ROUNDING_BOUND = {"delta_J_delta_sigma": 0, "delta_J_delta_z": 4, "delta_J_delta_w": 6, "delta_J_delta_b": 4}
POINTS = 100_000


def t(v, dtype):
    return torch.tensor(v, dtype=dtype)


@pytest.mark.parametrize(
    "a, b, ulps",
    [
        pytest.param(lambda d: t(1.0, d), lambda d: torch.nextafter(t(1.0, d), t(2.0, d)), 1, id="next-after-1"),
        pytest.param(lambda d: t(0.0, d), lambda d: t(-0.0, d), 0, id="plus-and-minus-0"),
        pytest.param(lambda d: torch.nextafter(t(0.0, d), t(1.0, d)), lambda d: t(0.0, d), 1, id="smallest-subnormal"),
        pytest.param(
            lambda d: torch.nextafter(t(0.0, d), t(1.0, d)),
            lambda d: torch.nextafter(t(0.0, d), t(-1.0, d)),
            2,
            id="across-0",
        ),
        pytest.param(lambda d: t(math.inf, d), lambda d: t(torch.finfo(d).max, d), 1, id="inf-after-max"),
        pytest.param(lambda d: t(math.nan, d), lambda d: t(math.nan, d), 0, id="nan-and-nan"),
        pytest.param(lambda d: t(math.nan, d), lambda d: t(1.0, d), math.inf, id="nan-and-1"),
        pytest.param(lambda d: t(1.0, d), lambda d: t(2.0, d), "binade", id="one-binade"),
    ],
)
def test_ulp_distance_counts_representable_values(dtype, a, b, ulps):
    expected = {torch.float32: 2**23, torch.float64: 2**52}[dtype] if ulps == "binade" else ulps
    assert float(ulp_distance(a(dtype), b(dtype))) == expected
    assert float(ulp_distance(b(dtype), a(dtype))) == expected, "the distance is symmetric"


def test_ulp_distance_refuses_other_dtypes():
    with pytest.raises(ValueError, match="float64, float32, bfloat16 or float16"):
        ulp_distance(torch.tensor(1, dtype=torch.int32), torch.tensor(1, dtype=torch.int32))


@pytest.mark.parametrize("low", [torch.bfloat16, torch.float16], ids=["bfloat16", "float16"])
def test_ulp_distance_counts_16_bit_floats_too(low):
    one = torch.tensor(1.0, dtype=low)
    assert float(ulp_distance(torch.nextafter(one, one * 2), one)) == 1
    assert float(ulp_distance(one * 2, one)) == 2 ** -math.log2(torch.finfo(low).eps)


@cache
def measured_ulps(dtype: torch.dtype) -> dict[str, float]:
    """Max |manual - autograd| / u (u = ½·ε·|autograd|, the rounding bound) per intermediate over POINTS seeded
    random points: w, b in [-4, 4] as the test points, x in [0.1, 2.5] as mean_area, and as many with z = w·x + b
    spread over ±40 (saturation included)."""
    g = torch.Generator().manual_seed(20261128)
    half = POINTS // 2
    u = torch.rand((3, half), generator=g, dtype=torch.float64)
    lesson_like = (u[0] * 8 - 4, u[1] * 2.4 + 0.1, u[2] * 8 - 4)
    n = torch.randn((3, half), generator=g, dtype=torch.float64)
    wide = (n[0] * 10, n[1] * 3, n[2] * 10)
    w, x, b = (torch.cat(p).to(dtype) for p in zip(lesson_like, wide))
    y = torch.randint(0, 2, (POINTS,), generator=g).to(dtype)
    m, a = gradients(w, x, b, y), autograd_gradients(w, x, b, y)
    return {
        name: float(((getattr(m, name) - getattr(a, name)).double().abs() / rounding_bound(getattr(a, name))).max())
        for name in CHAIN
    }


@pytest.mark.parametrize("name", CHAIN)
def test_manual_and_autograd_stay_within_the_rounding_bound_over_100000_points(dtype, name):
    worst = measured_ulps(dtype)[name]
    print(f"max |m - a| / u {name} {dtype}: {worst:g}")  # shown with -s; docs/precision.md quotes it
    assert worst <= ROUNDING_BOUND[name] <= MULTIPLIER, (
        f"{name} in {dtype}: {worst:g} u over {POINTS} points, bound {ROUNDING_BOUND[name]}, "
        f"allowance {MULTIPLIER:g} u: find out why before raising either"
    )


def test_the_rounding_allowance_is_tight_enough_to_catch_a_float32_relative_error_of_1e_6():
    v = torch.linspace(0.5, 1.0, 1001, dtype=torch.float32)  # a relative 1e-6 is 16.8 u = 8.4 ε|v| everywhere
    caught = ((v * (1 + 1e-6)).double() - v.double()).abs() > MULTIPLIER * rounding_bound(v)
    assert bool(caught.all()), f"only {int(caught.sum())} of 1001 values in [0.5, 1] caught"


# --- saturation -----------------------------------------------------------------------------------------------------


def saturation_threshold(dtype: torch.dtype) -> float:
    """The smallest z of the dtype with torch.sigmoid(z) == 1, by bisection over the dtype's values."""
    lo, hi = t(1.0, dtype), t(100.0, dtype)
    while torch.nextafter(lo, hi) != hi:
        mid = ((lo.double() + hi.double()) / 2).to(dtype)
        lo, hi = (lo, mid) if torch.sigmoid(mid) == 1 else (mid, hi)
    return float(hi)


def test_sigmoid_rounds_to_1_at_p_ln2(dtype):
    """1 + e^-z rounds to 1 once e^-z <= 2^-p (half an ULP of 1, ties to even): z >= p·ln 2, p the mantissa bits."""
    p = -math.log2(torch.finfo(dtype).eps) + 1  # 24 for float32, 53 for float64
    threshold = saturation_threshold(dtype)
    assert threshold == pytest.approx(p * math.log(2), rel=torch.finfo(dtype).eps * 4)
    print(f"sigmoid rounds to 1 from z = {threshold!r} in {dtype}")


def test_saturated_both_sides_say_zero_and_the_witness_says_otherwise(dtype):
    z = saturation_threshold(dtype)
    x = torch.tensor([1.0, 4.0, 1.0], dtype=dtype)
    w, b = t(z, dtype), t(0.0, dtype)  # z = w·x: at the threshold, and 4× beyond it; the last sample has y = 1
    y = torch.tensor([0.0, 0.0, 1.0], dtype=dtype)
    manual, autograd, witness = (
        gradients(w, x, b, y),
        autograd_gradients(w, x, b, y),
        complex_step_gradients(w, x, b, y),
    )
    for name in ("delta_J_delta_z", "delta_J_delta_w", "delta_J_delta_b"):
        assert (getattr(manual, name) == 0).all() and (getattr(autograd, name) == 0).all(), name
        assert (getattr(witness, name)[:2] > 0).all(), f"y = 0: the true {name} = 2·e^-z is not 0, the witness sees it"
    true_dsigma_dz = torch.exp(-z * x.double()) / (1 + torch.exp(-z * x.double())) ** 2
    torch.testing.assert_close(witness.delta_J_delta_z[:2], 2 * true_dsigma_dz[:2])  # y = 0: dJ/dsigma = 2
    # y = 1: the true dJ/dz = 2(sigma - 1)·sigma' ~ -2e^-2z. A float32 z is resolved in complex128; a float64 one is
    # not: the witness's own sigma rounds to 1 too, so it is blind there as well (docs/precision.md).
    blind = dtype == torch.float64
    assert (float(witness.delta_J_delta_z[2]) == 0) == blind
    # agreement with autograd proves nothing here, and the verification passes: the gap is below the allowance
    assert verify_gradients(w, b, x, y).ok


def test_saturated_loop_does_nothing_which_is_exact_at_the_lessons_scale(dtype):
    """Our loop takes dsigma/dz = sigma (1 - sigma) = 0, as torch.nn + SGD does: w and b do not move. With x ~ 1 the
    true step eta·dJ/dw is below half an ULP of w, so the exact update rounds to the same w: nothing is right."""
    z = saturation_threshold(dtype)
    X, y = torch.tensor([1.0], dtype=dtype), torch.tensor([0.0], dtype=dtype)
    w, b = t(z, dtype), t(0.0, dtype)
    ours, torchs = gradient_descent(w, b, X, y, epochs=3), nn_sgd_descent(w, b, X, y, epochs=3)
    assert (float(ours.w), float(ours.b)) == (float(torchs.w), float(torchs.b)) == (float(w), float(b))
    true_dJ_dw = float(complex_step_gradients(w, X, b, y).delta_J_delta_w[0])
    exact = (w.double() - 1e-4 * true_dJ_dw).to(dtype)
    assert true_dJ_dw > 0 and float(exact) == float(w), "the true step rounds away at this scale"


def test_saturated_loop_does_nothing_even_where_the_true_step_is_large():
    """The limit of doing nothing, written down: a tiny w on a huge x saturates z = 40 while the true dJ/dw is
    x · dJ/dz ~ 3.4e4. Manual, autograd and SGD all say 0 and never move; only the witness sees it."""
    w, b = torch.tensor(1e-20, dtype=torch.float64), torch.tensor(0.0, dtype=torch.float64)
    X, y = torch.tensor([4e21], dtype=torch.float64), torch.tensor([0.0], dtype=torch.float64)
    true_dJ_dw = float(complex_step_gradients(w, X, b, y).delta_J_delta_w[0])
    assert true_dJ_dw == pytest.approx(4e21 * 2 * math.exp(-40), rel=1e-12)
    assert (
        float(gradients(w, X, b, y).delta_J_delta_w[0]) == float(autograd_gradients(w, X, b, y).delta_J_delta_w[0]) == 0
    )
    assert float(gradient_descent(w, b, X, y, epochs=1).w) == float(nn_sgd_descent(w, b, X, y, epochs=1).w) == 1e-20


# ----------------------------------------
# Our allowance table is assert_close's: the last representable value inside passes, the next one fails.


def edge(expected: torch.Tensor, allowed: float) -> torch.Tensor:
    """The largest value of expected's dtype that is within `allowed` above `expected`."""
    up = torch.tensor(float("inf"), dtype=expected.dtype)
    c = (expected.double() + allowed).to(expected.dtype)
    while float(c) - float(expected) > allowed:
        c = torch.nextafter(c, expected)
    while float(torch.nextafter(c, up)) - float(expected) <= allowed:
        c = torch.nextafter(c, up)
    return c


# 16-bit: at 0 the edge (atol 1e-5) lies among float16's subnormals and below bfloat16's spacing there, where the
# next value after it is not a clean step past assert_close's bound; their rows are checked at 1 and -250
EDGES = [(d, e) for d in DEFAULT_TOLERANCES for e in (0.0, 1.0, -250.0) if e or torch.finfo(d).bits > 16]


@pytest.mark.parametrize(
    "any_dtype, expected", EDGES, ids=[f"at{e:g}-{str(d).removeprefix('torch.')}" for d, e in EDGES]
)
def test_allowance_is_assert_closes_edge(any_dtype, expected):
    rtol, atol = tolerances(any_dtype)
    e = torch.tensor(expected, dtype=any_dtype)
    inside = edge(e, atol + rtol * abs(expected))
    torch.testing.assert_close(inside, e)
    with pytest.raises(AssertionError):
        torch.testing.assert_close(torch.nextafter(inside, torch.tensor(float("inf"), dtype=any_dtype)), e)


def test_unknown_dtype_is_an_error():
    with pytest.raises(ValueError, match="no default tolerance"):
        tolerances(torch.int64)


def test_an_integer_dtype_has_no_epsilon():
    with pytest.raises(ValueError, match=r"^torch.int64 is not a floating-point dtype: a gradient is floating point$"):
        eps(torch.int64)
