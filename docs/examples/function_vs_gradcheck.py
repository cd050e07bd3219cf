"""verify_function beside torch.autograd.gradcheck on the same custom Functions (docs/function.md pastes its output).

Run from the repository root: OMP_NUM_THREADS=1 python docs/examples/function_vs_gradcheck.py
The Functions and their planted mistakes are the test suite's own: tests/check/functions.py.
"""

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: tests.check.functions

import backprop_manual as bm  # noqa: E402
from tests.check import functions as fx  # noqa: E402


def layer_norm_inputs(shape, dtype, ones=False):
    g = torch.Generator().manual_seed(0)
    x, w, b = (torch.randn(s, generator=g, dtype=torch.float64).to(dtype) for s in (shape, shape[-1:], shape[-1:]))
    return dict(x=x, w=torch.ones_like(w) if ones else w, b=b)


def gradcheck(fn, kw, *, fast):
    """gradcheck's verdict: True, or its exception's first line (it raises on the first failure it meets)."""
    names = list(kw)
    inputs = tuple(kw[k].detach().double().requires_grad_(True) for k in names)
    try:
        return torch.autograd.gradcheck(lambda *a: fn(*a), inputs, fast_mode=fast)
    except Exception as e:  # GradcheckError, or what the Function itself raised
        return f"{type(e).__name__}: {str(e).splitlines()[0][:90]}"


def seconds(call, repeat=1):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def timings():
    big, small = (8, 128, 768), (2, 3, 8)
    ln = fx.layer_norm()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    for shape, dtype in [(big, torch.float32), (big, torch.float64), (small, torch.float64)]:
        kw = layer_norm_inputs(shape, dtype)
        reports = []
        t = seconds(
            lambda kw=kw, r=reports: r.append(bm.verify_function(ln, fx.layer_norm_reference, **kw, eps=1e-5)), 3
        )
        first = reports[-1].first_divergence
        verdict = "ok" if first is None else f"{first.status} at {first.name}: {reports[-1].message().splitlines()[0]}"
        print(f"verify_function LayerNorm {list(shape)} {dtype}: {t:.3f} s (3 draws x 2 layouts): {verdict}")
    for shape, fast in [(big, True), (small, True), (small, False)]:
        kw = layer_norm_inputs(shape, torch.float64)
        t = seconds(lambda kw=kw, fast=fast: gradcheck(lambda x, w, b: ln(x, w, b, 1e-5), kw, fast=fast), 3)
        print(f"gradcheck fast_mode={fast} LayerNorm {list(shape)} float64: {t:.3f} s")


def verdicts():
    small = (2, 3, 8)
    x = torch.linspace(-3, 3, 24, dtype=torch.float64).reshape(4, 6)
    cases = [
        *[
            (f"LayerNorm: {what}", fx.layer_norm(m), fx.layer_norm_reference, layer_norm_inputs(small, torch.float64))
            for m, (what, _) in fx.LAYER_NORM_MISTAKES.items()
        ],
        (
            "LayerNorm, w = 1: dx without n · mean(dn · n)",
            fx.layer_norm("mean_dn_n_dropped"),
            fx.layer_norm_reference,
            layer_norm_inputs(small, torch.float64, ones=True),
        ),
        ("SiLU: dx = dy · s(1 - s)", fx.silu("sigmoid_derivative"), fx.silu_reference, dict(x=x)),
        ("SiLU: backward multiplies dy in place", fx.silu(in_place="incoming"), fx.silu_reference, dict(x=x)),
        ("SiLU: backward changes its saved x in place", fx.silu(in_place="saved"), fx.silu_reference, dict(x=x)),
        ("SiLU: backward changes a tensor kept on ctx", fx.silu(in_place="attribute"), fx.silu_reference, dict(x=x)),
        ("SiLU: backward takes .view(-1) of its input", fx.flattening_silu, fx.silu_reference, dict(x=x)),
    ]
    for what, fn, reference, kw in cases:
        extra = {"eps": 1e-5} if "w" in kw else {}
        report = bm.verify_function(fn, reference, **kw, **extra)
        first = report.first_divergence
        ours = "passes" if first is None else f"{first.status} at {first.name}"
        call = (lambda x, w, b, fn=fn: fn(x, w, b, 1e-5)) if "w" in kw else fn
        print(f"| {what} | {ours} | {gradcheck(call, kw, fast=True)} | {gradcheck(call, kw, fast=False)} |")


if __name__ == "__main__":
    timings()
    verdicts()
