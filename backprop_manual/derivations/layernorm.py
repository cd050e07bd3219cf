"""LayerNorm over the last axis, llm.c's doc/layernorm/layernorm.py: the fused input gradient.

forward (x [B, T, C], w and b [C], C = 32; R [B, T, C] a fixed random projection, so J = sum out ∘ R):
    mean = (1/C) sum_c x          rstd = ((1/C) sum_c (x - mean)^2 + 1e-5)^(-1/2)      [B, T, 1], not named
    norm = (x - mean) rstd        out = norm ∘ w + b                                    J = sum_btc out ∘ R
backward:
    dJ/dout  = R
    dJ/dw    = sum_bt dJ/dout ∘ norm            dJ/db = sum_bt dJ/dout                  [C]
    dJ/dnorm = dJ/dout ∘ w
    dJ/dx    = rstd (dJ/dnorm - mean_c(dJ/dnorm) - norm ∘ mean_c(dJ/dnorm ∘ norm))     mean_c over C, keepdim
    (mean and rstd depend on x too; their chain rule, collapsed, is the two mean_c terms)
x is an input, checked all the same (CHECK_INPUTS, verify_chain's check_inputs): dJ/dx is a row in chain order,
judged as a parameter's is; training trains w and b only and judges dJ/dx at every step.
layernorm and backward_x are the pieces the transformer block (derivations/block.py) is made of.
"""

import torch

# J is linear in w and b, unbounded below: at 0.01, 20 steps of w and b take J from -20 to -410 (float64)
# (tests/derivations/test_layernorm.py keeps 0.1 too, where today's free-running training criterion cries wolf)
LR = 0.01
CHECK_INPUTS = ("x",)  # dJ/dx, the fused formula this module is about, checked without training x
EPS = 1e-5  # llm.c's and torch.nn.LayerNorm's
B, T, C = 4, 8, 32


def layernorm(x, w, b):
    """(norm, out) over the last axis"""
    mean = x.mean(-1, keepdim=True)
    xshift = x - mean
    rstd = ((xshift**2).mean(-1, keepdim=True) + EPS) ** -0.5
    norm = xshift * rstd
    return norm, norm * w + b


def rstd_of(x):
    """1/√(var + eps), the biased variance over the last axis: what llm.c's forward caches"""
    return (x.var(-1, keepdim=True, correction=0) + EPS) ** -0.5


def backward_x(d_norm, norm, rstd):
    """dJ/dx = rstd (dJ/dnorm - mean_c dJ/dnorm - norm mean_c(dJ/dnorm norm))"""
    return rstd * (d_norm - d_norm.mean(-1, keepdim=True) - norm * (d_norm * norm).mean(-1, keepdim=True))


def backward_wb(d_out, norm):
    """(dJ/dw, dJ/db): summed over every axis but the last"""
    lead = tuple(range(d_out.ndim - 1))
    return (d_out * norm).sum(lead), d_out.sum(lead)


def forward(x, w, b, R):
    norm, out = layernorm(x, w, b)
    return {"norm": norm, "out": out, "loss": (out * R).sum()}


def backward(fwd, x, w, b, R):
    d_out = R
    d_w, d_b = backward_wb(d_out, fwd["norm"])
    d_norm = d_out * w
    return {"out": d_out, "w": d_w, "b": d_b, "norm": d_norm, "x": backward_x(d_norm, fwd["norm"], rstd_of(x))}


def example(dtype, device, *, seed=0):
    """x ~ N(0, 1) [4, 8, 32]; w ~ 1 + 0.1 N(0, 1), b ~ 0.1 N(0, 1) (not the identity's 1 and 0, so that a gradient
    that forgets w or b cannot hide); R ~ N(0, 1). Drawn in float64 from a seeded generator, rounded to dtype."""
    g = torch.Generator().manual_seed(seed)
    x, R = torch.randn(2, B, T, C, generator=g, dtype=torch.float64)
    w, b = (
        1 + 0.1 * torch.randn(C, generator=g, dtype=torch.float64),
        0.1 * torch.randn(C, generator=g, dtype=torch.float64),
    )
    move = dict(dtype=dtype, device=device)
    return {"w": w.to(**move), "b": b.to(**move)}, {"x": x.to(**move), "R": R.to(**move)}
