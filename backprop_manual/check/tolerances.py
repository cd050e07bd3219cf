"""torch.testing.assert_close's default tolerances, shown for information beside the error model's verdict
(check/model.py decides), and the distance in ULPs, which the tests use to measure rounding.

(tests/check/test_tolerances.py checks the table against torch's own.)
"""

import math

import torch

DEFAULT_TOLERANCES: dict[torch.dtype, tuple[float, float]] = {  # dtype: (rtol, atol), as assert_close's defaults
    torch.float16: (1e-3, 1e-5),
    torch.bfloat16: (1.6e-2, 1e-5),
    torch.float32: (1.3e-6, 1e-5),
    torch.float64: (1e-7, 1e-7),
}


def tolerances(dtype: torch.dtype) -> tuple[float, float]:
    """(rtol, atol) of `dtype`, as assert_close uses them by default."""
    try:
        return DEFAULT_TOLERANCES[dtype]
    except KeyError:
        raise ValueError(
            f"no default tolerance for {dtype}; the verification runs in float64, float32, bfloat16 or float16"
        ) from None


# Distance in units in the last place (ULPs): how many representable values of the dtype lie between a and b.
#
# ulp_distance(a, b) = |ord(a) - ord(b)|, where ord maps the dtype's floats in order onto the integers:
# ord(x) = bits(x) for x >= +0 and -(bits(x) with the sign bit cleared) for x <= -0, so ord(+0) = ord(-0) = 0,
# consecutive floats are 1 apart, and the smallest subnormal is 1 away from 0. Two NaNs are 0 apart (both sides
# produced one); a NaN against a number is an infinite distance.

_BITS = {
    torch.float16: (torch.int16, 0x7FFF),
    torch.bfloat16: (torch.int16, 0x7FFF),
    torch.float32: (torch.int32, 0x7FFFFFFF),
    torch.float64: (torch.int64, 0x7FFFFFFFFFFFFFFF),
}


def ordinal(x: torch.Tensor) -> torch.Tensor:
    """ord(x): the float's rank among the dtype's floats, signed, with ord(±0) = 0 (int32 or int64)"""
    try:
        int_dtype, magnitude = _BITS[x.dtype]
    except KeyError:
        raise ValueError(f"ULPs are counted in float64, float32, bfloat16 or float16, not {x.dtype}") from None
    bits = x.contiguous().view(int_dtype).to(torch.int64)
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
