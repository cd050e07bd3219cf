"""Ring attention (zhuzilin/ring-flash-attention): causal attention, each rank a block of the sequence, the K/V
blocks passed around the ring with batch_isend_irecv, and in the backward the dK/dV blocks travelling with them.

reference (one process):                              q, k, v [S, d], y [S, d]; c = 1/sqrt(d)
    s = c q k^T masked causally (-inf above the diagonal),  lse = logsumexp_j s,  o = exp(s - lse) v
    J = mean (o - y)^2
rank r holds block r of q, k, v, y (Shard(0)); at ring step t it holds K/V block j = (r - t) mod W, which it sends on
to rank r + 1 while it receives block j - 1 from rank r - 1. Block j > r is masked out, j = r causally, j < r not.
backward by hand on rank r (FlashAttention-2's), with D = rowsum(dJ/do ∘ o):
    dJ/do = 2 (o - y) / (S d),  dJ/dlse = -D
    for each block j as it comes round, with P = exp(s_rj - lse):  dV_j += P^T dJ/do,  dP = dJ/do V_j^T,
        dS = P ∘ (dP - D),  dQ_r += c dS K_j,  dK_j += c dS^T Q_r
dK_j, dV_j travel with K_j, V_j; after W steps each block is back on its rank with every rank's contribution.
"""

import math

import torch
import torch.distributed as dist
from torch.distributed.tensor import Partial, Shard

from backprop_manual.distributed.layouts import chunk

layouts = {"q": Shard(0), "k": Shard(0), "v": Shard(0), "o": Shard(0), "lse": Shard(0), "loss": Partial()}
S, D = 8, 4  # 8 positions: blocks of 8, 4 or 2 on 1, 2 or 4 ranks


def forward(q, k, v, y):
    s = (q @ k.T / math.sqrt(D)).masked_fill(torch.ones(S, S, dtype=torch.bool).triu(1), -math.inf)
    lse = torch.logsumexp(s, -1)
    o = torch.exp(s - lse[:, None]) @ v
    return {"lse": lse, "o": o, "loss": ((o - y) ** 2).mean()}


def reference():
    """Full tensors from a seeded generator, float64."""
    g = torch.Generator().manual_seed(19)

    def draw():
        return torch.randn(S, D, generator=g, dtype=torch.float64)

    return forward, {"q": draw(), "k": draw(), "v": draw()}, {"y": draw()}


def ring_pass(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """Send each to rank r + 1 and receive the same from rank r - 1, all in one batch_isend_irecv."""
    r, W = dist.get_rank(), dist.get_world_size()
    if W == 1:
        return tensors
    got = [torch.empty_like(t) for t in tensors]
    ops = [dist.P2POp(dist.isend, t.contiguous(), (r + 1) % W) for t in tensors]
    ops += [dist.P2POp(dist.irecv, t, (r - 1) % W) for t in got]
    for request in dist.batch_isend_irecv(ops):
        request.wait()
    return got


def causal(s: torch.Tensor, r: int, j: int) -> torch.Tensor:
    """Block j of rank r's scores: j > r all masked, j = r above the diagonal masked, j < r as it is."""
    if j > r:
        return torch.full_like(s, -math.inf)
    if j == r:
        return s.masked_fill(torch.ones_like(s, dtype=torch.bool).triu(1), -math.inf)
    return s


def block_order(r: int, t: int, W: int) -> int:
    """The K/V block rank r holds at ring step t."""
    return (r - t) % W


def ring_forward(q, k, v, y):
    """lse and o of rank r's query block from every K/V block as it comes round; J_r = sum (o_r - y_r)^2 / (S d)."""
    r, W = dist.get_rank(), dist.get_world_size()
    scores, values, kj, vj = [], [], k, v
    for t in range(W):
        scores.append(causal(q @ kj.T / math.sqrt(D), r, block_order(r, t, W)))
        values.append(vj)
        if t < W - 1:
            kj, vj = ring_pass([kj, vj])
    lse = torch.logsumexp(torch.cat(scores, -1), -1)
    o = sum(torch.exp(s - lse[:, None]) @ vj for s, vj in zip(scores, values))
    return {"lse": lse, "o": o, "loss": ((o - y) ** 2).sum() / (S * D)}


def backward(fwd, q, k, v, y, order=block_order, mask=causal, skip_step=None):
    """The hand backward of the module's docstring."""
    r, W = dist.get_rank(), dist.get_world_size()
    o, lse, c = fwd["o"], fwd["lse"], 1 / math.sqrt(D)
    d_o = 2 * (o - y) / (S * D)
    Dr = (d_o * o).sum(-1)
    d_q = torch.zeros_like(q)
    kj, vj, d_kj, d_vj = k, v, torch.zeros_like(k), torch.zeros_like(v)
    for t in range(W):
        j = order(r, t, W)
        if j <= r and t != skip_step:
            P = torch.exp(mask(c * q @ kj.T, r, j) - lse[:, None])
            d_vj = d_vj + P.T @ d_o
            dS = P * (d_o @ vj.T - Dr[:, None])
            d_q = d_q + c * dS @ kj
            d_kj = d_kj + c * dS.T @ q
        kj, vj, d_kj, d_vj = ring_pass([kj, vj, d_kj, d_vj])  # after the W-th pass, block r is home
    return {"o": d_o, "lse": -Dr, "q": d_q, "k": d_kj, "v": d_vj}


def sharded(rank, world_size, backward=backward):
    _, params, inputs = reference()
    mine = {k: chunk(t, Shard(0), rank, world_size) for k, t in params.items()}
    return ring_forward, backward, mine, {"y": chunk(inputs["y"], Shard(0), rank, world_size)}
