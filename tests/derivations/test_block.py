"""derivations/block.py: the pre-LN transformer block (llm.c's GPT-2 layer), both residuals, J a random projection."""

import pytest
import torch
import torch.nn.functional as F

from backprop_manual.check import verify_training
from backprop_manual.derivations import attention, block, layernorm
from tests.derivations.helpers import (
    DTYPES,
    POINTS,
    as_mathematics,
    assert_blamed,
    changed,
    exact_gelu_local,
    moved,
    point,
    verify,
)

right = block.backward
CHAIN = [
    *["out", "mlp", "W_fcproj", "b_fcproj", "h", "fc", "W_fc", "b_fc", "ln2", "ln2_w", "ln2_b", "x2", "attn"],
    *["W_proj", "b_proj", "yc", "y", "p", "lse", "scores", "v", "k", "q", "qkv", "W_attn", "b_attn", "ln1", "x"],
    *["ln1_w", "ln1_b"],
]


def ln_dx(d_ln, inp, w, b):
    return block.ln_backward(d_ln, inp, w, b)[0]


def ln_dx_missing_1_over_C(d_ln, inp, w, b):
    """LayerNorm's dJ/dx with sums where the means belong"""
    norm, _ = layernorm.layernorm(inp, w, b)
    dn = d_ln * w
    return layernorm.rstd_of(inp) * (dn - dn.sum(-1, keepdim=True) - norm * (dn * norm).sum(-1, keepdim=True))


MISTAKES = {
    # x2 feeds out and ln2: the layernorm's gradient written over the residual's
    "second-residual-overwritten": (
        changed(right, x2=lambda g, fwd, ln2_w, ln2_b, **a: ln_dx(g["ln2"], fwd["x2"], ln2_w, ln2_b)),
        "x2",
        "MISMATCH",
    ),
    "first-residual-overwritten": (
        changed(right, x=lambda g, fwd, x, ln1_w, ln1_b, **a: ln_dx(g["ln1"], x, ln1_w, ln1_b)),
        "x",
        "MISMATCH",
    ),
    "ln2-missing-1/C": (
        changed(
            right,
            x2=lambda g, fwd, ln2_w, ln2_b, **a: g["out"] + ln_dx_missing_1_over_C(g["ln2"], fwd["x2"], ln2_w, ln2_b),
        ),
        "x2",
        "MISMATCH",
    ),
    "exact-gelu-derivative-for-the-tanh-form": (
        changed(right, fc=lambda g, fwd, **a: exact_gelu_local(fwd["fc"]) * g["h"]),
        "fc",
        "MISMATCH",
    ),
    "softmax-as-p(1-p)": (
        changed(right, scores=lambda g, fwd, **a: fwd["p"] * (1 - fwd["p"]) * g["p"]),
        "scores",
        "MISMATCH",
    ),
    "missing-1/sqrt(d)": (
        changed(right, k=lambda g, fwd, **a: g["scores"].transpose(-2, -1) @ fwd["q"]),
        "k",
        "MISMATCH",
    ),
    "dW_fc-without-the-transpose": (
        changed(right, W_fc=lambda g, fwd, **a: g["fc"].reshape(-1, 4 * block.C).T @ fwd["ln2"].reshape(-1, block.C)),
        "W_fc",
        "shape",
    ),
}


@pytest.mark.parametrize("seed", POINTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_the_derivation_agrees_with_autograd(device, dtype, seed):
    params, inputs = point(block, dtype, device, seed)
    report = verify(block, right, params, inputs)
    report.assert_ok()
    assert [r.name for r in report.rows] == CHAIN
    assert {(t.dtype, t.device.type) for t in report.autograd.values()} == {(dtype, device)}


def test_the_forward_is_torch_ops_block(dtype):
    """The same block from torch's own ops: F.layer_norm, scaled_dot_product_attention, F.gelu"""
    p, inputs = as_mathematics(block, dtype)
    x = p["x"]
    C = x.shape[-1]
    ln1 = F.layer_norm(x, (C,), p["ln1_w"], p["ln1_b"], layernorm.EPS)
    q, k, v = (attention.heads(t, block.N_HEAD) for t in (ln1 @ p["W_attn"] + p["b_attn"]).split(C, -1))
    y = attention.merge(F.scaled_dot_product_attention(q, k, v, is_causal=True))
    x2 = x + y @ p["W_proj"] + p["b_proj"]
    ln2 = F.layer_norm(x2, (C,), p["ln2_w"], p["ln2_b"], layernorm.EPS)
    out = x2 + F.gelu(ln2 @ p["W_fc"] + p["b_fc"], approximate="tanh") @ p["W_fcproj"] + p["b_fcproj"]
    torch.testing.assert_close(block.forward(**p, **inputs)["out"], out)


@pytest.mark.parametrize("mistake", [pytest.param(k, id=k) for k in MISTAKES])
def test_a_planted_mistake_is_blamed_first(device, dtype, mistake):
    backward, name, status = MISTAKES[mistake]
    params, inputs = block.example(dtype, device)
    assert_blamed(verify(block, backward, params, inputs), name, status)


def test_training_follows_torch_optim_sgd(dtype):
    params, inputs = block.example(dtype, "cpu")
    report = verify_training(block.forward, right, params, inputs, lr=block.LR, epochs=20)
    report.assert_ok()
    assert moved(report, params) > 1e-2, "the parameters moved"


def test_training_parts_at_step_0_on_the_wrong_parameter(dtype):
    params, inputs = block.example(dtype, "cpu")
    wrong = MISTAKES["first-residual-overwritten"][0]
    report = verify_training(block.forward, wrong, params, inputs, lr=block.LR, epochs=3)
    assert not report.ok, report.summary()
    assert (report.first.step, report.first.parameter) == (0, "x"), report.summary()
