"""GELU, tanh approximation (GPT-2's, torch.nn.functional.gelu(x, approximate="tanh")), step by step and fused.

forward (x [B, T, 4C] = [4, 8, 64]; R a fixed random projection of the same shape):
    u = √(2/π) (x + 0.044715 x^3)     t = tanh(u)     out = (1/2) x (1 + t)     J = sum out ∘ R
backward, step by step (x feeds both u and out: its two gradients add):
    dJ/dout = R      dJ/dt = (1/2) x dJ/dout      dJ/du = (1 - t^2) dJ/dt
    dJ/dx   = (1/2)(1 + t) dJ/dout + √(2/π)(1 + 3·0.044715 x^2) dJ/du
fused (forward_fused names only out = F.gelu(x, approximate="tanh"), torch's own op), as llm.c's gelu_backward:
    dJ/dx = local(x) dJ/dout,  local(x) = (1/2)(1 + t) + (1/2) x (1 - t^2) √(2/π)(1 + 3·0.044715 x^2)
x is the parameter: GELU has no other, and verify_chain needs one (training then trains x). A layer whose x is
only an input checks dJ/dx with CHECK_INPUTS instead (layernorm.py).
"""

import math

import torch
import torch.nn.functional as F

LR = 0.1
K = math.sqrt(2 / math.pi)
A = 0.044715
SHAPE = (4, 8, 64)


def local(x):
    """dgelu/dx = (1/2)(1 + t) + (1/2) x (1 - t^2) √(2/π)(1 + 3·0.044715 x^2), t = tanh(√(2/π)(x + 0.044715 x^3))"""
    t = torch.tanh(K * (x + A * x**3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t**2) * K * (1 + 3 * A * x**2)


def forward(x, R):
    u = K * (x + A * x**3)
    t = torch.tanh(u)
    out = 0.5 * x * (1 + t)
    return {"u": u, "t": t, "out": out, "loss": (out * R).sum()}


def backward(fwd, x, R):
    d_out = R
    d_t = 0.5 * x * d_out
    d_u = (1 - fwd["t"] ** 2) * d_t
    d_x = 0.5 * (1 + fwd["t"]) * d_out + K * (1 + 3 * A * x**2) * d_u  # both uses of x, added
    return {"out": d_out, "t": d_t, "u": d_u, "x": d_x}


def forward_fused(x, R):
    out = F.gelu(x, approximate="tanh")
    return {"out": out, "loss": (out * R).sum()}


def backward_fused(fwd, x, R):
    """dJ/dx = local(x) dJ/dout"""
    return {"out": R, "x": local(x) * R}


def example(dtype, device, *, seed=0):
    """x ~ N(0, 1.5^2), R ~ N(0, 1): drawn in float64 from a seeded generator, rounded to dtype. The spread reaches
    |x| of 4 or more, where tanh is near its saturation and the cubic term matters."""
    g = torch.Generator().manual_seed(seed)
    x, R = torch.randn(2, *SHAPE, generator=g, dtype=torch.float64)
    return {"x": (1.5 * x).to(dtype=dtype, device=device)}, {"R": R.to(dtype=dtype, device=device)}
