"""Sequence-parallel LayerNorm (Megatron-LM's sequence parallelism): each rank a slice of the sequence.

reference (one process):                     x [S, D], gamma [D], beta [D], y [S, D]
    xhat = (x - mean_d x) / sqrt(var_d x + eps),  out = gamma xhat + beta,  J = mean (out - y)^2
rank r holds x_r, y_r = chunk r of x, y along the sequence (Shard(0)) and all of gamma, beta; LayerNorm works
within a row, so the forward needs no communication, and the ranks' J_r = sum (out_r - y_r)^2 / (S D) sum to J.
backward by hand on rank r (llm.c's layernorm.py, rstd = 1 / sqrt(var + eps)):
    dJ/dout = 2 (out - y_r) / (S D)
    dJ/dgamma = all-reduce(sum_s dJ/dout xhat),  dJ/dbeta = all-reduce(sum_s dJ/dout)    (every rank's rows feed them)
    dJ/dxhat = gamma dJ/dout
    dJ/dx = rstd (dJ/dxhat - mean_d dJ/dxhat - xhat mean_d (dJ/dxhat xhat))
The classic mistake: dgamma, dbeta left un-reduced, each rank's own rows only.
"""

import torch
import torch.distributed as dist
from torch.distributed.tensor import Partial, Replicate, Shard

from backprop_manual.distributed.layouts import chunk

layouts = {
    "x": Shard(0),
    "xhat": Shard(0),
    "out": Shard(0),
    "gamma": Replicate(),
    "beta": Replicate(),
    "loss": Partial(),
}
S, D, EPS = 6, 4, 1e-5  # S = 6: on 4 ranks, rows 2, 2, 2 and an empty last shard


def normalized(x):
    """xhat = (x - mean) / sqrt(var + eps), within each row"""
    mean = x.mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(((x - mean) ** 2).mean(-1, keepdim=True) + EPS)


def forward(x, gamma, beta, y):
    xhat = normalized(x)
    out = gamma * xhat + beta
    return {"xhat": xhat, "out": out, "loss": ((out - y) ** 2).mean()}


def reference():
    """Full tensors from a seeded generator, float64."""
    g = torch.Generator().manual_seed(19)

    def draw(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    return forward, {"x": draw(S, D), "gamma": 1 + draw(D) / 4, "beta": draw(D) / 4}, {"y": draw(S, D)}


def rank_forward(x, gamma, beta, y):
    """J_r = sum (out_r - y_r)^2 / (S D): this rank's summand of J."""
    xhat = normalized(x)
    out = gamma * xhat + beta
    return {"xhat": xhat, "out": out, "loss": ((out - y) ** 2).sum() / (S * D)}


def all_reduce(t):
    t = t.clone()
    dist.all_reduce(t)
    return t


def backward(fwd, x, gamma, beta, y, reduce=all_reduce):
    """The hand backward of the module's docstring."""
    xhat, d_out = fwd["xhat"], 2 * (fwd["out"] - y) / (S * D)
    rstd = 1 / torch.sqrt(((x - x.mean(-1, keepdim=True)) ** 2).mean(-1, keepdim=True) + EPS)
    d_xhat = gamma * d_out
    d_x = rstd * (d_xhat - d_xhat.mean(-1, keepdim=True) - xhat * (d_xhat * xhat).mean(-1, keepdim=True))
    return {
        "out": d_out,
        "gamma": reduce((d_out * xhat).sum(0)),
        "beta": reduce(d_out.sum(0)),
        "xhat": d_xhat,
        "x": d_x,
    }


def sharded(rank, world_size, backward=backward):
    _, params, inputs = reference()
    mine = params | {"x": chunk(params["x"], Shard(0), rank, world_size)}
    return rank_forward, backward, mine, {"y": chunk(inputs["y"], Shard(0), rank, world_size)}
