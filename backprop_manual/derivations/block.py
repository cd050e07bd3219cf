"""A pre-LN transformer block, as llm.c's GPT-2 layer: ln1, attention, residual, ln2, MLP, residual.

forward (x [B, T, C] = [2, 8, 32], n_head 4, MLP width 4C; R a fixed random projection, J = sum out ∘ R):
    ln1 = layernorm(x; ln1_w, ln1_b)                          (derivations/layernorm.py)
    qkv = ln1 W_attn + b_attn, then q, k, v, scores, lse, p, y, yc   (derivations/attention.py, causal)
    attn = yc W_proj + b_proj          x2 = x + attn           the first residual
    ln2 = layernorm(x2; ln2_w, ln2_b)  fc = ln2 W_fc + b_fc   [B, T, 4C]    h = gelu(fc), tanh form (gelu.py)
    mlp = h W_fcproj + b_fcproj        out = x2 + mlp          the second residual
backward, each piece's own (linear: dJ/dW = sum_bt in^T dJ/dout, dJ/db = sum_bt dJ/dout, dJ/din = dJ/dout W^T):
    dJ/dout = R        dJ/dmlp = dJ/dout              dJ/dh = dJ/dmlp W_fcproj^T     dJ/dfc = gelu'(fc) dJ/dh
    dJ/dln2 = dJ/dfc W_fc^T
    dJ/dx2  = dJ/dout + layernorm's dJ/dx(dJ/dln2 ∘ ln2_w)     x2 feeds out and ln2: the residual's gradient ADDS
    dJ/dattn = dJ/dx2  ...attention's backward down to dJ/dqkv...  dJ/dln1 = dJ/dqkv W_attn^T
    dJ/dx   = dJ/dx2 + layernorm's dJ/dx(dJ/dln1 ∘ ln1_w)      the same at the first residual
x is a parameter, so dJ/dx, where both residuals meet, is checked and training trains x too; CHECK_INPUTS
(layernorm.py) would check dJ/dx without training x.
"""

import torch

from backprop_manual.derivations import attention, gelu, layernorm
from backprop_manual.derivations.attention import linear_backward

# J is linear in out and unbounded below, and gradient descent on it runs away: at 0.0003, 20 steps move the
# parameters by 1 % (x) to 31 % and take J from 20 to -442; at 0.001 J reaches -1e5, at 0.002 it overflows
LR = 0.0003
B, T, C, N_HEAD = 2, 8, 32, 4


def forward(x, ln1_w, ln1_b, W_attn, b_attn, W_proj, b_proj, ln2_w, ln2_b, W_fc, b_fc, W_fcproj, b_fcproj, R):
    _, ln1 = layernorm.layernorm(x, ln1_w, ln1_b)
    qkv = ln1 @ W_attn + b_attn
    a = attention.attend(qkv, N_HEAD)
    attn = a["yc"] @ W_proj + b_proj
    x2 = x + attn
    _, ln2 = layernorm.layernorm(x2, ln2_w, ln2_b)
    fc = ln2 @ W_fc + b_fc
    h = 0.5 * fc * (1 + torch.tanh(gelu.K * (fc + gelu.A * fc**3)))
    mlp = h @ W_fcproj + b_fcproj
    out = x2 + mlp
    return {"ln1": ln1, "qkv": qkv, **a, "attn": attn, "x2": x2, "ln2": ln2, "fc": fc, "h": h, "mlp": mlp} | {
        "out": out,
        "loss": (out * R).sum(),
    }


def ln_backward(d_ln, inp, w, b):
    """(dJ/dinp, dJ/dw, dJ/db) of ln = layernorm(inp; w, b)"""
    norm, _ = layernorm.layernorm(inp, w, b)
    d_w, d_b = layernorm.backward_wb(d_ln, norm)
    return layernorm.backward_x(d_ln * w, norm, layernorm.rstd_of(inp)), d_w, d_b


def backward(fwd, x, ln1_w, ln1_b, W_attn, b_attn, W_proj, b_proj, ln2_w, ln2_b, W_fc, b_fc, W_fcproj, b_fcproj, R):
    f = fwd
    d_out = R
    d_mlp = d_out
    d_W_fcproj, d_b_fcproj, d_h = linear_backward(d_mlp, f["h"], W_fcproj)
    d_fc = gelu.local(f["fc"]) * d_h
    d_W_fc, d_b_fc, d_ln2 = linear_backward(d_fc, f["ln2"], W_fc)
    d_x2_ln, d_ln2_w, d_ln2_b = ln_backward(d_ln2, f["x2"], ln2_w, ln2_b)
    d_x2 = d_out + d_x2_ln  # the second residual: added
    d_attn = d_x2
    d_W_proj, d_b_proj, d_yc = linear_backward(d_attn, f["yc"], W_proj)
    p = f["p"]
    D = (p * (attention.heads(d_yc, N_HEAD) @ f["v"].transpose(-2, -1))).sum(-1, keepdim=True)
    a = attention.attend_backward(d_yc, f, p, D)
    d_W_attn, d_b_attn, d_ln1 = linear_backward(a["qkv"], f["ln1"], W_attn)
    d_x_ln, d_ln1_w, d_ln1_b = ln_backward(d_ln1, x, ln1_w, ln1_b)
    grads = {"out": d_out, "mlp": d_mlp, "W_fcproj": d_W_fcproj, "b_fcproj": d_b_fcproj, "h": d_h, "fc": d_fc}
    grads |= {"W_fc": d_W_fc, "b_fc": d_b_fc, "ln2": d_ln2, "ln2_w": d_ln2_w, "ln2_b": d_ln2_b, "x2": d_x2}
    grads |= {"attn": d_attn, "W_proj": d_W_proj, "b_proj": d_b_proj, **a, "W_attn": d_W_attn, "b_attn": d_b_attn}
    return grads | {"ln1": d_ln1, "ln1_w": d_ln1_w, "ln1_b": d_ln1_b, "x": d_x2 + d_x_ln}  # the first residual


def example(dtype, device, *, seed=0):
    """x ~ N(0, 1) [2, 8, 32]; LayerNorm w ~ 1 + 0.1 N(0, 1), b ~ 0.1 N(0, 1); W ~ N(0, 1/fan_in), biases ~ 0.1 N(0, 1)
    (off 0 and 1, so that a gradient that forgets one cannot hide); R ~ N(0, 1). Drawn in float64 from a seeded
    generator, then rounded to dtype."""
    g = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    params = {"x": randn(B, T, C)}
    for ln in ("ln1", "ln2"):
        params |= {f"{ln}_w": 1 + 0.1 * randn(C), f"{ln}_b": 0.1 * randn(C)}
    for W, b, n_in, n_out in (("W_attn", "b_attn", C, 3 * C), ("W_proj", "b_proj", C, C)) + (
        ("W_fc", "b_fc", C, 4 * C),
        ("W_fcproj", "b_fcproj", 4 * C, C),
    ):
        params |= {W: randn(n_in, n_out) / n_in**0.5, b: 0.1 * randn(n_out)}
    order = ["x", "ln1_w", "ln1_b", "W_attn", "b_attn", "W_proj", "b_proj", "ln2_w", "ln2_b", "W_fc", "b_fc"]
    params = {k: params[k] for k in [*order, "W_fcproj", "b_fcproj"]}
    R = randn(B, T, C)
    return {k: v.to(dtype=dtype, device=device) for k, v in params.items()}, {"R": R.to(dtype=dtype, device=device)}
