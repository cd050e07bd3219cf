"""The error model (check/model.py): no false alarm where a gradient cancels, with margin; nothing measured for an
element that needs no measurement; a cancellation inside one operation seen."""

import importlib.util
import math
from pathlib import Path

import pytest
import torch

from backprop_manual.check import verify_chain
from backprop_manual.check.compare import compare_tensor
from backprop_manual.check.model import MULTIPLIER, RandomRounding, monte_carlo_spread, rounding_bound
from tests.check import two_layer as tl

SIZES = [(1, 3, 4), (64, 5, 16), (569, 30, 64), (2048, 30, 256)]


@pytest.mark.parametrize("seed", [0, 1, 2], ids=lambda s: f"seed{s}")
@pytest.mark.parametrize("size", SIZES, ids=lambda s: "N{}_d{}_H{}".format(*s))
@pytest.mark.wide_dtypes(
    "J sums 2048 samples' losses at the largest size, past float16's 65504; tests/stress covers it with mean losses",
    dtypes=("float16",),
)
def test_no_false_alarm_and_every_difference_within_a_quarter_of_its_allowance(dtype, size, seed):
    N, d, H = size
    params, inputs = tl.example(dtype, "cpu", N=N, d=d, H=H, seed=seed)
    report = verify_chain(tl.forward, tl.backward, params, inputs)
    report.assert_ok()
    for row in report.rows:
        assert row.ratio <= 0.25, (row.name, row)  # nothing passes by a hair (the stress battery asserts the same)


def test_an_element_alone_is_allowed_the_rounding_of_its_own_value_only():
    a = torch.tensor([0.25, -3.0, 1e-20], dtype=torch.float64)
    eps = torch.finfo(torch.float64).eps
    tiny = eps * torch.finfo(torch.float64).smallest_normal  # one ULP of the subnormals
    assert torch.equal(rounding_bound(a), (0.5 * eps * a.abs()).clamp(min=tiny))
    row = compare_tensor("z", a * (1 + 5 * eps), a, measure=None)
    assert not row.ok and row.rule == "rounding" and row.allowance == pytest.approx(MULTIPLIER * 0.5 * eps * 3.0)


def test_the_measurement_is_taken_only_where_the_rounding_bound_is_not_enough():
    a = torch.tensor([1.0, 2.0], dtype=torch.float64)
    asked = []
    compare_tensor("z", a.clone(), a, measure=lambda: asked.append(1) or torch.zeros(2, dtype=torch.float64))
    assert not asked, "manual equal to autograd needs no measurement"
    row = compare_tensor("z", a + 1e-10, a, measure=lambda: torch.full((2,), 1e-10, dtype=torch.float64))
    assert row.ok and row.rule == "measured" and row.uncertainty == 1e-10


def test_monte_carlo_arithmetic_sees_a_cancellation_inside_one_operation(dtype):
    """softmax's backward p ∘ (dp − Σ p ∘ dp) on a near one-hot row: the terms are ~|dp|, the result ~0. Perturbing
    only the operation's result (relative to a result ~0) would see nothing; perturbing its operands sees ε·|dp|."""
    logits = torch.tensor([[40.0, 0.0, -3.0, 1.0]], dtype=dtype, requires_grad=True)
    p = torch.softmax(logits, -1)
    dp = torch.tensor([[3.0, -1.0, 2.0, 0.5]], dtype=dtype)
    loss = (p * dp).sum()
    (a,) = torch.autograd.grad(loss, [logits], retain_graph=True)
    (s,) = monte_carlo_spread(loss, [logits], [a])
    eps = torch.finfo(dtype).eps
    assert float(s[0, 0]) >= eps * 3.0 * float(p[0, 0]) / 4, (s, a)  # the first element: ~ε·|dp_0|, not ~ε·|a_0|
    assert float(s[0, 0]) > 100 * float(rounding_bound(a)[0, 0])


def test_random_rounding_leaves_in_place_and_aliasing_operations_alone():
    gen = torch.Generator().manual_seed(0)
    x = torch.ones(64, dtype=torch.float64)  # each element of z equals x's with probability 1/2 (2(1 + ε)(1 - ε))
    with RandomRounding(gen):
        y = x.view(8, 8)
        x.add_(1.0)
        z = x * 1.0
    assert torch.equal(y.reshape(-1), x), "the view still aliases x"
    assert torch.equal(x, torch.full((64,), 2.0, dtype=torch.float64)), "in place: untouched"
    assert not torch.equal(z, x), "an ordinary operation is perturbed"


@pytest.mark.wide_dtypes("docs/your-own-derivation.md shows the float64 run")
def test_the_docs_example_is_blamed_where_the_doc_says_and_passes_once_fixed(dtype):
    path = Path(__file__).parents[2] / "docs" / "examples" / "my_network.py"
    spec = importlib.util.spec_from_file_location("my_network_doc_example", path)
    mine = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mine)
    params, inputs = mine.example(dtype, "cpu")
    report = verify_chain(mine.forward, mine.backward, params, inputs)
    assert (report.first_divergence.name, report.first_divergence.index) == ("z1", [0, 0])

    def fixed(fwd, **a):
        g = mine.backward(fwd, **a)
        d_z1 = (1 - fwd["h"] ** 2) * g["h"]
        return {**g, "z1": d_z1, "W1": a["x"].T @ d_z1, "b1": d_z1.sum(0)}

    verify_chain(mine.forward, fixed, params, inputs).assert_ok()


def _own_forward_case(slip: float = 1.0):
    """z = x W summed over K = 4096 and J = Σ (z - y)², y within 1e-6 of z (2 (z - y) cancels); the backward computes
    its own z, summed in another order (as a rank of a sharded forward does), rather than taking autograd's."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4096, generator=g, dtype=torch.float64)
    W = torch.randn(4096, generator=g, dtype=torch.float64) / 64
    y = x @ W + 1e-6 * torch.randn(64, generator=g, dtype=torch.float64)

    def forward(W, x, y):
        z = x @ W
        return {"z": z, "loss": ((z - y) ** 2).sum()}

    def backward(fwd, W, x, y):
        z = (x * W).flip(-1).cumsum(-1)[:, -1]
        d_z = 2 * (z - y) * slip
        return {"z": d_z, "W": x.T @ d_z}

    return forward, backward, {"W": W}, {"x": x, "y": y}


def test_a_forward_of_its_own_is_allowed_its_rounding_when_said_and_a_slip_still_fails():
    """Measured: without forward_rounding W fails at 1.95 of its allowance (a false alarm: the backward's own z is
    as right as autograd's); with it every row is within 0.08 of its allowance, and a relative slip of 1e-6 in
    dJ/dz is 19 times over it."""
    forward, backward, params, inputs = _own_forward_case()
    assert not verify_chain(forward, backward, params, inputs).ok  # the premise: autograd's backward alone is not it
    report = verify_chain(forward, backward, params, inputs, forward_rounding=True)
    assert report.ok, report.message()
    assert max(r.ratio for r in report.rows) < 0.25, report.message()
    forward, backward, params, inputs = _own_forward_case(slip=1 + 1e-6)
    report = verify_chain(forward, backward, params, inputs, forward_rounding=True)
    assert report.first_divergence is not None and report.first_divergence.name == "z", report.message()


def test_with_an_oracle_the_hand_forward_is_allowed_its_own_rounding():
    """The backward takes the hand-written forward's z (summed in another order than the oracle's x @ W): measured
    without the forward's rounding, dJ/dz fails at 6.55e4 times its allowance (a false alarm); with it, 0.05."""
    forward, _, params, inputs = _own_forward_case()

    def hand_forward(W, x, y):
        z = (x * W).flip(-1).cumsum(-1)[:, -1]
        return {"z": z, "loss": ((z - y) ** 2).sum()}

    def backward(fwd, W, x, y):
        d_z = 2 * (fwd["z"] - y)
        return {"z": d_z, "W": x.T @ d_z}

    report = verify_chain(hand_forward, backward, params, inputs, oracle=forward)
    assert report.ok and max(r.ratio for r in report.rows) < 0.25, report.message()


def test_a_cancellation_among_values_the_forward_saved_is_seen_at_every_element():
    """Each draw is a backward pass of its own. BCE-with-logits' backward computes sigmoid(z) - y from saved values
    alone; near σ = 1 that cancels, and autograd's own error there is σ's rounding, ~ε/N. Every element must see it.
    The eight draws vmapped into one backward (is_grads_batched, until 2026-12-08) ran that part once, one noise for
    all draws, whose few ±ε cancelled exactly at some elements: there the spread was 0.008 ε/N, at 0.8% of the
    elements (measured), and a correct hand backward ((1-y)σ(z) - yσ(-z)) / N, nearer the exact gradient than
    autograd's, was a MISMATCH."""
    n = 2000
    g = torch.Generator().manual_seed(0)
    z = (5.0 + 0.5 * torch.randn(n, generator=g, dtype=torch.float64)).requires_grad_(True)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(z, torch.ones(n, dtype=torch.float64))
    (a,) = torch.autograd.grad(loss, [z], retain_graph=True)
    (s,) = monte_carlo_spread(loss, [z], [a])
    least = float(s.min() / (torch.finfo(torch.float64).eps / n))
    assert least >= 0.25, f"an element's spread is {least:.3g} ε/N"  # measured 0.999 (batched: 0.0076)


class _ItemInBackward(torch.autograd.Function):
    """y = 2x, whose backward reads a Python float out of a tensor (vmap could not batch it)."""

    @staticmethod
    def forward(ctx, x):
        return 2 * x

    @staticmethod
    def backward(ctx, g):
        return g * float(g.reshape(-1)[0].item() * 0 + 2)


def test_a_backward_that_reads_a_python_float_is_measured():
    x = torch.linspace(-1, 1, 64, dtype=torch.float64).requires_grad_(True)
    h = torch.sin(x)
    loss = (_ItemInBackward.apply(h) * torch.cos(x)).sum()
    (a,) = torch.autograd.grad(loss, [h], retain_graph=True)
    (s,) = monte_carlo_spread(loss, [h], [a])
    assert bool((s > 0).all()), "measured at every element"
    assert float((s / a.abs()).max()) < 64 * torch.finfo(torch.float64).eps


def test_the_hand_backwards_own_rounding_is_measured_only_where_autograds_is_not_enough():
    """Two tiers (chain._Spread): autograd's Monte Carlo spread first; the hand backward run again on its values each
    moved by half an ULP only for a name where some element is still past a quarter of its allowance."""
    a = torch.tensor([1.0, 2.0], dtype=torch.float64)
    asked = []

    def tiers():
        asked.append("autograd")
        yield torch.full((2,), 1e-10, dtype=torch.float64)
        asked.append("handed")
        yield torch.full((2,), 1e-9, dtype=torch.float64)

    row = compare_tensor("z", a + 1e-10, a, measure=tiers)
    assert row.ok and asked == ["autograd"] and row.uncertainty == 1e-10
    asked.clear()
    row = compare_tensor("z", a + 1e-9, a, measure=tiers)  # 1e-9 > 2 u = 2e-10 on the first tier: the second asked
    assert row.ok and asked == ["autograd", "handed"] and row.uncertainty == 1e-9


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.float16], ids=str)
def test_the_tanh_gelus_fused_backward_rounds_its_large_terms_where_they_cancel(dtype):
    """F.gelu(approximate="tanh") at pre-activations near -7 (a GPT-2 MLP meets them): its fused backward rounds
    1 + t and 1 - t² to 0 there, off the exact GELU' by ~14 ε|g|, its terms ~46 times larger than the result
    (model._local_terms). A correct hand backward, the textbook formula op by op, is no MISMATCH: before the rule, 15
    of 20 verifications were (float64, bfloat16 and float16 through the float64 re-run)."""
    c, k = math.sqrt(2 / math.pi), 0.044715

    def forward(a, r):
        h = torch.nn.functional.gelu(a, approximate="tanh")
        return {"h": h, "loss": (h * r).sum()}

    def backward(fwd, a, r):
        t = torch.tanh(c * (a + k * a**3))
        return {"h": r, "a": r * (0.5 * (1 + t) + 0.5 * a * (1 - t * t) * c * (1 + 3 * k * a * a))}

    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        a = -7.2 + 0.3 * torch.randn(32, 16, generator=g, dtype=torch.float64)
        r = torch.randn(32, 16, generator=g, dtype=torch.float64)
        report = verify_chain(forward, backward, {"a": a.to(dtype)}, {"r": r.to(dtype)})
        assert report.ok, (seed, report.message())
