"""Our allowance table is assert_close's: the last representable value inside passes, the next one fails."""

import pytest
import torch

from backprop_manual.tolerances import DEFAULT_TOLERANCES, tolerances


def edge(expected: torch.Tensor, allowed: float) -> torch.Tensor:
    """The largest value of expected's dtype that is within `allowed` above `expected`."""
    up = torch.tensor(float("inf"), dtype=expected.dtype)
    c = (expected.double() + allowed).to(expected.dtype)
    while float(c) - float(expected) > allowed:
        c = torch.nextafter(c, expected)
    while float(torch.nextafter(c, up)) - float(expected) <= allowed:
        c = torch.nextafter(c, up)
    return c


@pytest.mark.parametrize("any_dtype", list(DEFAULT_TOLERANCES), ids=lambda d: str(d).removeprefix("torch."))
@pytest.mark.parametrize("expected", [0.0, 1.0, -250.0], ids=["at0", "at1", "at-250"])
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
