"""Allowances per dtype: torch.testing.assert_close's defaults, so that our table and its verdict agree.

allowed |manual - autograd| = atol + rtol · |autograd|
(tests/test_tolerances.py checks this table against torch's own.)
"""

import torch

DEFAULT_TOLERANCES: dict[torch.dtype, tuple[float, float]] = {  # dtype: (rtol, atol)
    torch.float32: (1.3e-6, 1e-5),
    torch.float64: (1e-7, 1e-7),
}


def tolerances(dtype: torch.dtype) -> tuple[float, float]:
    """(rtol, atol) of `dtype`, as assert_close uses them by default."""
    try:
        return DEFAULT_TOLERANCES[dtype]
    except KeyError:
        raise ValueError(f"no default tolerance for {dtype}; the verification runs in float32 or float64") from None
