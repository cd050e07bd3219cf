"""Allowances per dtype: torch.testing.assert_close's defaults, so that our table and its verdict agree, and a
budget in ULPs that those defaults are too loose to replace.

allowed |manual - autograd| = atol + rtol · |autograd|     (assert_close's verdict, kept as it is)
allowed ulp_distance(manual, autograd) <= ULP_BUDGETS[dtype] (ours, on top of it)
(tests/check/test_tolerances.py checks the first table against torch's own; tests/check/test_tolerances.py the second.)
"""

import math

import torch

DEFAULT_TOLERANCES: dict[torch.dtype, tuple[float, float]] = {  # dtype: (rtol, atol)
    torch.float32: (1.3e-6, 1e-5),
    torch.float64: (1e-7, 1e-7),
}

# Why a ULP budget: in float64, assert_close allows 1e-7 + 1e-7·|autograd|, about 4.5e8 ULPs at |autograd| = 1,
# so a float64 gradient computed in float32 (relative error up to 6e-8) or off by a relative 1e-8 passes it.
# Manual and autograd compute the same products in a different order (sigma·(1 - sigma)·upstream against
# autograd's upstream·(1 - sigma)·sigma, then ·x for dJ/dw): at most 2 roundings apart for dJ/dz (<= 4 ULP) and 3
# for dJ/dw (<= 6 ULP). Measured, max over 100,000 random points and over 400,000 extreme ones (subnormal to 1e38 /
# 1e300, both signs, saturated), in float32 and float64 alike: 0 ULP for dJ/dsigma, 2 for dJ/dz and dJ/db, 3 for
# dJ/dw (tests/check/test_tolerances.py measures it again and keeps this budget above it). 8 ULP covers the bound of 6
# with a margin and still catches a float32 relative error of 1e-6 (8 to 17 ULP) and anything coarser.
ULP_BUDGETS: dict[torch.dtype, float] = {
    torch.float32: 8.0,
    torch.float64: 8.0,
}


def tolerances(dtype: torch.dtype) -> tuple[float, float]:
    """(rtol, atol) of `dtype`, as assert_close uses them by default."""
    try:
        return DEFAULT_TOLERANCES[dtype]
    except KeyError:
        raise ValueError(f"no default tolerance for {dtype}; the verification runs in float32 or float64") from None


def ulp_budget(dtype: torch.dtype) -> float:
    """The largest ULP distance between manual and autograd that rounding alone explains, in `dtype`."""
    try:
        return ULP_BUDGETS[dtype]
    except KeyError:
        raise ValueError(f"no ULP budget for {dtype}; the verification runs in float32 or float64") from None


# Distance in units in the last place (ULPs): how many representable values of the dtype lie between a and b.
#
# ulp_distance(a, b) = |ord(a) - ord(b)|, where ord maps the dtype's floats in order onto the integers:
# ord(x) = bits(x) for x >= +0 and -(bits(x) with the sign bit cleared) for x <= -0, so ord(+0) = ord(-0) = 0,
# consecutive floats are 1 apart, and the smallest subnormal is 1 away from 0. Two NaNs are 0 apart (both sides
# produced one); a NaN against a number is an infinite distance.

_BITS = {torch.float32: (torch.int32, 0x7FFFFFFF), torch.float64: (torch.int64, 0x7FFFFFFFFFFFFFFF)}


def ordinal(x: torch.Tensor) -> torch.Tensor:
    """ord(x): the float's rank among the dtype's floats, signed, with ord(±0) = 0 (int32 or int64)"""
    try:
        int_dtype, magnitude = _BITS[x.dtype]
    except KeyError:
        raise ValueError(f"ULPs are counted in float32 or float64, not {x.dtype}") from None
    bits = x.contiguous().view(int_dtype)
    return torch.where(bits >= 0, bits, -(bits & magnitude))


def ulp_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """|ord(a) - ord(b)| in b's dtype's ULPs, as float64 (exact up to 2^53, then rounded); a is rounded to b's dtype.

    Opposite signs count both ways through zero: |ord(a)| + |ord(b)|, so that no int64 difference can overflow.
    """
    a = a.detach().to(b.dtype)
    oa, ob = ordinal(a), ordinal(b.detach())
    same_side = (oa ^ ob) >= 0  # the sign bit of the xor: both ordinals on the same side of 0
    # (oa - ob) may wrap around where the signs differ; those elements take the other branch
    distance = torch.where(same_side, (oa - ob).abs().double(), oa.abs().double() + ob.abs().double())
    nan_a, nan_b = torch.isnan(a), torch.isnan(b)
    distance = torch.where(nan_a | nan_b, math.inf, distance)
    return torch.where(nan_a & nan_b, 0.0, distance)
