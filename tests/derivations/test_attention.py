"""derivations/attention.py: causal multi-head self-attention, the plain backward (p kept) and the flash-style one
(p recomputed from the scores and the rows' log-sum-exp, the causal mask applied again)."""

import pytest
import torch
import torch.nn.functional as F

from backprop_manual.check import verify_chain, verify_training
from backprop_manual.derivations import attention
from tests.derivations.helpers import DTYPES, POINTS, as_mathematics, assert_blamed, changed, moved, point

right = attention.backward
flash = attention.backward_flash
CHAIN = ["out", "W_proj", "b_proj", "yc", "y", "p", "lse", "scores", "v", "k", "q", "qkv", "x", "W_attn", "b_attn"]


def flash_with(p_of):
    """The flash-style backward with p recomputed as p_of(fwd), flowing on down to x, W_attn, b_attn."""

    def backward(fwd, x, W_attn, b_attn, W_proj, b_proj, R):
        g = flash(fwd, x, W_attn, b_attn, W_proj, b_proj, R)
        D = (g["y"] * fwd["y"]).sum(-1, keepdim=True)
        below = attention.attend_backward(g["yc"], fwd, p_of(fwd), D)
        d_W_attn, d_b_attn, d_x = attention.linear_backward(below["qkv"], x, W_attn)
        return g | below | {"W_attn": d_W_attn, "b_attn": d_b_attn, "x": d_x}

    return backward


def unscaled(g, fwd, name):
    """dJ/dq = dJ/dscores k, dJ/dk = dJ/dscores^T q: the 1/√d of the scores forgotten"""
    s = g["scores"]
    return s @ fwd["k"] if name == "q" else s.transpose(-2, -1) @ fwd["q"]


MISTAKES = {
    "softmax-as-p(1-p)": (
        right,
        changed(right, scores=lambda g, fwd, **a: fwd["p"] * (1 - fwd["p"]) * g["p"]),
        "scores",
    ),
    # scores = q k^T / √d: k is reached before q, so k is blamed first
    "missing-1/sqrt(d)": (
        right,
        changed(right, q=lambda g, fwd, **a: unscaled(g, fwd, "q"), k=lambda g, fwd, **a: unscaled(g, fwd, "k")),
        "k",
    ),
    "dk-without-the-transpose": (
        right,
        changed(right, k=lambda g, fwd, **a: g["scores"] @ fwd["q"] / fwd["q"].shape[-1] ** 0.5),
        "k",
    ),
    "dv-as-p-dy": (right, changed(right, v=lambda g, fwd, **a: fwd["p"] @ g["y"]), "v"),
    # [B, T, C] viewed straight as [B, n_head, T, d]: the heads' and the positions' axes mixed up
    "heads-split-without-the-transpose": (
        right,
        changed(right, y=lambda g, fwd, **a: g["yc"].reshape(fwd["y"].shape)),
        "y",
    ),
    "dlse-without-p": (right, changed(right, lse=lambda g, fwd, **a: -g["p"].sum(-1, keepdim=True)), "lse"),
    "flash-mask-forgotten": (flash, flash_with(lambda fwd: torch.exp(fwd["scores"] - fwd["lse"])), "scores"),
    "flash-lse-not-subtracted": (flash, flash_with(lambda fwd: torch.exp(attention.causal(fwd["scores"]))), "scores"),
}


@pytest.mark.parametrize("seed", POINTS)
@pytest.mark.parametrize("form", ["plain", "flash"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_the_derivation_agrees_with_autograd(device, dtype, seed, form):
    params, inputs = point(attention, dtype, device, seed)
    report = verify_chain(attention.forward, right if form == "plain" else flash, params, inputs)
    report.assert_ok()
    assert [r.name for r in report.rows] == CHAIN
    assert {(t.dtype, t.device.type) for t in report.autograd.values()} == {(dtype, device)}


def test_the_forward_is_torch_causal_attention(dtype):
    params, inputs = as_mathematics(attention, dtype)
    f = attention.forward(**params, **inputs)
    y = F.scaled_dot_product_attention(f["q"], f["k"], f["v"], is_causal=True)
    torch.testing.assert_close(f["y"], y)
    assert bool((f["p"].triu(1) == 0).all()), "no weight on a later position"


def test_the_mask_matters_where_the_flash_mistake_is_blamed():
    """Without the mask, p above the diagonal is exp(scores - lse), far from 0: the mistake cannot hide"""
    params, inputs = attention.example(torch.float64, "cpu")
    f = attention.forward(**params, **inputs)
    assert float(torch.exp(f["scores"] - f["lse"]).triu(1).max()) > 0.1


@pytest.mark.parametrize("mistake", [pytest.param(k, id=k) for k in MISTAKES])
def test_a_planted_mistake_is_blamed_first(device, dtype, mistake):
    _, backward, name = MISTAKES[mistake]
    params, inputs = attention.example(dtype, device)
    assert_blamed(verify_chain(attention.forward, backward, params, inputs), name, "MISMATCH")


@pytest.mark.parametrize("form", ["plain", "flash"])
def test_training_follows_torch_optim_sgd(dtype, form):
    params, inputs = attention.example(dtype, "cpu")
    backward = right if form == "plain" else flash
    report = verify_training(attention.forward, backward, params, inputs, lr=attention.LR, epochs=20)
    report.assert_ok()
    assert moved(report, params) > 1e-2, "the parameters moved"


def test_training_parts_at_step_0_on_the_wrong_parameter(dtype):
    params, inputs = attention.example(dtype, "cpu")
    wrong = MISTAKES["flash-mask-forgotten"][1]
    report = verify_training(attention.forward, wrong, params, inputs, lr=attention.LR, epochs=3)
    assert not report.ok, report.summary()
    assert (report.first.step, report.first.parameter) == (0, "x"), report.summary()
