"""verify_function on custom torch.autograd.Functions (tests/check/functions.py): a LayerNorm and a fused SiLU pass;
each planted mistake is blamed on the right name first, a wrong forward as a forward; a backward that changes its
incoming gradient or a saved tensor in place is named; a backward that cannot take non-contiguous inputs is found."""

import pytest
import torch

import backprop_manual as bm
from backprop_manual.check import ChainUsageError
from backprop_manual.check.function import non_contiguous
from tests.check import functions as fx


def layer_norm_inputs(dtype, device, shape=(4, 8, 32), ones=False):
    g = torch.Generator().manual_seed(0)
    x, w, b = (torch.randn(s, generator=g, dtype=torch.float64) for s in (shape, shape[-1:], shape[-1:]))
    if ones:
        w = torch.ones_like(w)
    return {k: t.to(dtype=dtype, device=device) for k, t in dict(x=x, w=w, b=b).items()} | {"eps": 1e-5}


def test_the_right_layer_norm_agrees(device, dtype):
    report = bm.verify_function(fx.layer_norm(), fx.layer_norm_reference, **layer_norm_inputs(dtype, device))
    report.assert_ok()
    assert [r.name for r in report.runs[0][1].rows] == ["out", "x", "w", "b"]  # chain order, by keyword
    assert [what for what, _ in report.runs] == [
        f"{layout}, draw {d}" for layout in ("contiguous", "non-contiguous") for d in range(3)
    ]


@pytest.mark.parametrize("mistake", list(fx.LAYER_NORM_MISTAKES))
def test_each_layer_norm_mistake_is_blamed_on_its_name(dtype, mistake):
    what, blamed = fx.LAYER_NORM_MISTAKES[mistake]
    report = bm.verify_function(fx.layer_norm(mistake), fx.layer_norm_reference, **layer_norm_inputs(dtype, "cpu"))
    assert not report.ok, what
    assert report.first_divergence.name == blamed, report.message()
    with pytest.raises(AssertionError, match="fn's forward output" if blamed == "out" else "fn's backward is wrong"):
        report.assert_ok()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bfloat16", "float16"])
def test_in_16_bits_each_layer_norm_mistake_is_blamed_on_its_name_seen_in_float64_where_it_must_be(dtype):
    """In bfloat16 and float16 the same checks run again on the inputs upcast to float64: eps outside the sqrt
    (inside 16 bits' rounding: |diff| 2e-5 against values ~4) is blamed on the forward there, "wrong as mathematics";
    the right Function passes both ways."""
    right = bm.verify_function(fx.layer_norm(), fx.layer_norm_reference, **layer_norm_inputs(dtype, "cpu"))
    assert right.ok and right.mathematics is not None and right.mathematics.ok, right.message()
    for mistake, (what, blamed) in fx.LAYER_NORM_MISTAKES.items():
        report = bm.verify_function(fx.layer_norm(mistake), fx.layer_norm_reference, **layer_norm_inputs(dtype, "cpu"))
        assert not report.ok and report.first_divergence.name == blamed, f"{mistake} ({what}): {report.message()}"
    # fn's gradients are computed once, in 16 bits: the mathematics is checked on the inputs upcast (mathematics),
    # not again by each run's chain, which could only say that they did not follow to float64
    assert not any(run.notes for _, run in right.runs), [run.notes for _, run in right.runs]
    seen = bm.verify_function(
        fx.layer_norm("eps_outside_the_sqrt"), fx.layer_norm_reference, **layer_norm_inputs(dtype, "cpu")
    )
    assert all(r.ok for r in seen.rows), "inside 16 bits' rounding: the case must be one only float64 sees"
    assert seen.first_divergence.problem.startswith("wrong as mathematics"), seen.message()
    assert seen.message().startswith("fn is wrong as mathematics"), seen.message()


def test_a_16_bit_kernel_of_fixed_dtype_keeps_its_verdict_with_a_note():
    """A Function that returns bfloat16 whatever it is given (a 16-bit-only kernel) cannot say anything in float64:
    no "wrong as mathematics" from its dtype there; its bfloat16 verdict stands, with a note saying why."""

    class Scale(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, w):
            ctx.save_for_backward(x, w)
            return (x * w).to(torch.bfloat16)

        @staticmethod
        def backward(ctx, dy):
            x, w = ctx.saved_tensors
            return (dy * w).to(x.dtype), (dy * x).sum(0).to(w.dtype)

    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(4, 3, generator=g).bfloat16(), torch.randn(3, generator=g).bfloat16()
    report = bm.verify_function(Scale.apply, lambda x, w: x * w, x=x, w=w)
    assert report.ok and report.mathematics is None, report.message()
    assert "did not come back as float64" in report.message(), report.message()


def test_a_random_cotangent_finds_what_an_all_ones_one_hides():
    # With w = 1 and dy = 1, dn = 1: mean(dn) = 1 and mean(dn · n) = mean(n) = 0, so dropping n · mean(dn · n)
    # changes nothing. out.sum().backward() agrees with autograd; a random cotangent does not.
    kw = layer_norm_inputs(torch.float64, "cpu", ones=True)
    x = kw["x"].clone().requires_grad_(True)
    wrong = torch.autograd.grad(fx.layer_norm("mean_dn_n_dropped")(x, kw["w"], kw["b"], 1e-5).sum(), x)[0]
    right = torch.autograd.grad(fx.layer_norm_reference(x, kw["w"], kw["b"], 1e-5).sum(), x)[0]
    torch.testing.assert_close(wrong, right)
    report = bm.verify_function(fx.layer_norm("mean_dn_n_dropped"), fx.layer_norm_reference, **kw)
    assert report.first_divergence.name == "x"


def test_the_fused_silu_agrees(device, dtype):
    x = torch.linspace(-8, 8, 96, dtype=dtype, device=device).reshape(8, 12)
    bm.verify_function(fx.silu(), fx.silu_reference, x=x).assert_ok()


def test_the_silu_with_the_sigmoids_derivative_is_blamed_on_x(dtype):
    x = torch.linspace(-8, 8, 96, dtype=dtype).reshape(8, 12)
    report = bm.verify_function(fx.silu("sigmoid_derivative"), fx.silu_reference, x=x)
    assert (report.first_divergence.name, report.first_divergence.status) == ("x", "MISMATCH")


@pytest.mark.parametrize(
    "in_place, name, says",
    [
        ("incoming", "out", "changed its incoming gradient dJ/dout in place"),
        ("saved", "x", "a second backward over the same forward raised*changed a tensor it saved"),
        ("attribute", "x", "a second backward over the same forward gives another dJ/dx"),
    ],
    ids=["incoming-gradient", "saved-tensor", "tensor-kept-on-ctx"],
)
def test_a_backward_that_changes_a_tensor_in_place_is_named(in_place, name, says):
    x = torch.linspace(-3, 3, 24, dtype=torch.float64).reshape(4, 6)
    before = x.clone()
    report = bm.verify_function(fx.silu(in_place=in_place), fx.silu_reference, x=x)
    first = report.first_divergence
    assert (first.name, first.status) == (name, "in place"), report.message()
    with pytest.raises(AssertionError, match=says.replace("*", ".*")):
        report.assert_ok()
    assert torch.equal(x, before), "fn works on copies: the caller's tensors stay as they were"


def test_a_backward_that_needs_contiguous_inputs_is_found():
    x = torch.linspace(-3, 3, 24, dtype=torch.float64).reshape(4, 6)
    report = bm.verify_function(fx.flattening_silu, fx.silu_reference, x=x)
    assert (report.first_divergence.status, report.first_divergence.name) == ("layout", "x"), report.message()
    assert "fails on non-contiguous inputs: RuntimeError" in report.message()
    assert [what for what, r in report.runs if r.ok] == [
        "contiguous, draw 0",
        "contiguous, draw 1",
        "contiguous, draw 2",
    ]


@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4)], ids=["1d", "2d", "3d"])
def test_the_non_contiguous_copy_has_the_values_and_not_the_layout(shape):
    t = torch.arange(torch.Size(shape).numel(), dtype=torch.float64).reshape(shape)
    copy = non_contiguous(t)
    assert torch.equal(copy, t) and not copy.is_contiguous()


def detached_silu(x):
    return fx.silu_reference(x).detach()


@pytest.mark.parametrize(
    "fn, kwargs, says",
    [
        (fx.silu(), dict(x=torch.arange(4)), "at least one floating-point tensor"),
        (fx.silu(), dict(x=torch.ones(3), draws=0), "draws must be at least 1"),
        (detached_silu, dict(x=torch.ones(3)), "fn's output out does not require grad"),
        (
            lambda x: (fx.silu_reference(x), x),
            dict(x=torch.ones(3)),
            r"fn returns \['out0', 'out1'\], reference \['out'\]",
        ),
    ],
    ids=["integer-input-only", "no-draws", "detached-output", "other-outputs"],
)
def test_usage_errors(fn, kwargs, says):
    with pytest.raises(ChainUsageError, match=says):
        bm.verify_function(fn, fx.silu_reference, **kwargs)


class _FusedRMSNorm(torch.autograd.Function):
    """y = x · rsqrt(mean(x²) + 1e-6) · g, its backward derived by hand (correct)."""

    @staticmethod
    def forward(ctx, x, g):
        r = torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-6)
        ctx.save_for_backward(x, g, r)
        return x * r * g

    @staticmethod
    def backward(ctx, gy):
        x, g, r = ctx.saved_tensors
        n, dn = x * r, gy * g
        return r * (dn - n * (dn * n).mean(-1, keepdim=True)), (gy * n).reshape(-1, x.shape[-1]).sum(0)


def test_where_only_the_references_gradient_overflows_fn_is_not_called_wrong():
    """float16, rows with mean(x²) down to 1e-6 (a new user's case, 2026-12-08): the reference's plain ops overflow in
    their gradient (inf, beyond 65504) where fn's backward stays finite. Not verified (ok False), and the message says
    so instead of 'fn's backward is wrong'."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(16, 48, generator=gen, dtype=torch.float64)
    x = x * 10 ** torch.empty(16, 1, dtype=torch.float64).uniform_(-3, 0, generator=gen)
    g = 1 + 0.3 * torch.randn(48, generator=gen, dtype=torch.float64)

    def reference(x, g):
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-6) * g

    report = bm.verify_function(_FusedRMSNorm.apply, reference, x=x.half(), g=g.half())
    assert not report.ok
    message = report.message()
    assert message.startswith("not verified (") and "reference's gradient is not finite where fn's is" in message
    assert "fn's backward is wrong" not in message, message
