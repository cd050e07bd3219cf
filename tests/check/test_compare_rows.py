"""compare_rows (check/compare.py): the Rows compare_tensor gives, field for field, with the small rows that agree
compared in one flat pass; rows it cannot settle (a slip, NaN, another dtype, a missing gradient) go to
compare_tensor as before."""

import dataclasses
import math

import pytest
import torch

import backprop_manual.check.compare as compare
from backprop_manual.check.compare import compare_rows, compare_tensor

KINDS = ("equal", "1 eps", "5 eps", "40 eps", "slip", "nan", "missing", "other dtype", "zero")


def _case(g: torch.Generator, dtype: torch.dtype, kind: str):
    eps = torch.finfo(dtype).eps
    shape = tuple(int(s) for s in torch.randint(1, 6, (int(torch.randint(1, 3, (1,), generator=g)),), generator=g))
    scale = 10.0 ** float(torch.randint(-4, 4, (1,), generator=g))
    a = (torch.randn(shape, generator=g, dtype=torch.float64) * scale).to(dtype)

    def noisy(k):
        return (a.double() * (1 + k * eps * torch.randn(shape, generator=g, dtype=torch.float64))).to(dtype)

    m = {
        "equal": a.clone(),
        "1 eps": noisy(1),
        "5 eps": noisy(5),
        "40 eps": noisy(40),
        "slip": (a.double() + 1e-3 * torch.randn(shape, generator=g, dtype=torch.float64)).to(dtype),
        "nan": a.clone().reshape(-1).index_fill(0, torch.tensor([0]), math.nan).reshape(shape),
        "missing": None,
        "other dtype": a.to(torch.float32 if dtype == torch.float64 else torch.float64),
        "zero": a.clone(),
    }[kind]
    if kind == "zero":  # an exact 0 on both sides, beside the rest
        a.view(-1)[0], m.view(-1)[0] = 0, 0
    estimate = a.double().abs() * eps * float(torch.rand(1, generator=g)) * 30 + 1e-30
    drawn = a.double().abs() * eps * float(torch.rand(1, generator=g)) * 30
    return m, a, estimate, drawn


def _same(r1, r2) -> list:
    d1, d2 = dataclasses.asdict(r1), dataclasses.asdict(r2)
    nan = [k for k in d1 if isinstance(d1[k], float) and math.isnan(d1[k]) and math.isnan(d2[k])]
    return [(k, d1[k], d2[k]) for k in d1 if d1[k] != d2[k] and k not in nan]


def _one_set(g: torch.Generator, dtype: torch.dtype, asked: list):
    """(compare_tensor's Rows, compare_rows' Rows) of a random set of rows of every kind, each with the tiers
    compare_tensor would ask (the estimate, then the draws; some names with none, as a per-sample parameter; some
    without an estimate); `asked` collects the names compare_rows left to compare_tensor."""
    names = [f"t{i}" for i in range(int(torch.randint(2, 7, (1,), generator=g)))]
    cases = {n: _case(g, dtype, KINDS[int(torch.randint(0, len(KINDS), (1,), generator=g))]) for n in names}
    bare = {n for n in names if int(torch.randint(0, 4, (1,), generator=g)) == 0}
    unestimated = {n for n in names if int(torch.randint(0, 5, (1,), generator=g)) == 0}

    def measure(n):
        if n in bare:
            return None
        _, _, s, drawn = cases[n]
        return lambda: iter(([("propagated", s)] if n not in unestimated else []) + [drawn])

    def estimate():
        return {n: c[2] for n, c in cases.items() if n not in unestimated}

    manual, autograd = {n: c[0] for n, c in cases.items()}, {n: c[1] for n, c in cases.items()}
    expected = [compare_tensor(n, manual[n], autograd[n], measure=measure(n)) for n in names]
    before = len(asked)
    got = compare_rows(names, manual, autograd, measure, estimate)
    return expected, got, len(names) - (len(asked) - before)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.float16], ids=str)
def test_compare_rows_gives_compare_tensors_rows(dtype, monkeypatch):
    g = torch.Generator().manual_seed(0)
    asked = []
    original = compare.compare_tensor
    monkeypatch.setattr(compare, "compare_tensor", lambda *a, **k: asked.append(a[0]) or original(*a, **k))
    flat = 0
    for trial in range(150):
        expected, got, settled = _one_set(g, dtype, asked)
        flat += settled
        for r1, r2 in zip(expected, got, strict=True):
            assert not _same(r1, r2), (trial, r1.name, _same(r1, r2))
    assert flat > 200, "the flat pass settled too few rows to say anything"


@pytest.mark.parametrize("least", [False, True], ids=["argmax", "argmin"])
def test_first_argmax_is_torchs_first_extreme_block_by_block(least):
    """compare.first_argmax finds the extreme through each block's own: the same index as torch's argmax (argmin),
    the first of tied extremes, the first NaN, across block boundaries and a short last block."""
    g = torch.Generator().manual_seed(3)
    block = compare.FIRST_BLOCK
    for trial in range(300):
        n = int(torch.randint(1, 12 * block, (1,), generator=g))
        x = torch.randint(0, 40, (n,), generator=g).to(torch.float64)  # many ties
        if trial % 3 == 0:
            x[torch.randint(0, n, (2,), generator=g)] = math.nan
        if trial % 5 == 0:
            x[torch.randint(0, n, (2,), generator=g)] = -math.inf if least else math.inf
        expected = int(x.argmin() if least else x.argmax())
        assert compare.first_argmax(x, least=least) == expected, (trial, n)


def test_rows_of_many_elements_share_buffers_and_equal_each_row_compared_alone():
    """compare_rows hands its rows one set of work buffers (compare.Buffers): rows of 10^4 to 10^5 elements, longer
    and shorter in turn, the estimate asked or not, give the Rows compare_tensor gives each alone with fresh
    buffers; their extremes lie in later blocks than the first (first_argmax's block path)."""
    g = torch.Generator().manual_seed(5)
    names = [f"t{i}" for i in range(6)]
    manual, autograd, estimates = {}, {}, {}
    for i, n in enumerate(names):
        size = (70_000, 9_000, 120_000, 20_000, 70_000, 5_000)[i]
        a = torch.randn(size, generator=g, dtype=torch.float64).to(torch.float32)
        noise = (1 + 3e-8 * torch.randn(size, generator=g, dtype=torch.float64)) if i % 3 else 1.0
        manual[n] = (a.double() * noise).to(torch.float32)
        if i == 4:
            manual[n][size - 7] += 1.0  # a slip, late in the row
        autograd[n] = a
        estimates[n] = a.double().abs() * 3e-7 + 1e-30
    measure = {n: (lambda n=n: lambda: iter([("propagated", estimates[n])])) for n in names}
    got = compare_rows(names, manual, autograd, lambda n: measure[n](), lambda: estimates)
    for n, row in zip(names, got, strict=True):
        alone = compare_tensor(n, manual[n], autograd[n], measure=measure[n]())
        assert not _same(alone, row), (n, _same(alone, row))
    assert [r.status for r in got] == ["ok", "ok", "ok", "ok", "MISMATCH", "ok"]
    assert got[4].index == [70_000 - 7] and got[1].rule == "propagated"
