"""A tensor-parallel MLP (Megatron-LM): column-parallel W1, then row-parallel W2, on world_size ranks.

reference (one process):                          x [N, d], W1 [H, d], b1 [H], W2 [k, H], b2 [k], y [N, k]
    h = x W1^T + b1,  a = tanh(h),  o = a W2^T + b2,  J = mean (o - y)^2
rank r holds W1_r, b1_r = chunk r of W1, b1 along H (Shard(0)) and W2_r = chunk r of W2 along H (Shard(1)):
    h_r = copy(x) W1_r^T + b1_r,  a_r = tanh(h_r),  o = reduce(a_r W2_r^T) + b2
Megatron's conjugate pair (megatron/core/tensor_parallel/mappings.py), written by hand:
    copy:   forward identity,   backward all-reduce   (x feeds every rank: its gradient is the ranks' sum)
    reduce: forward all-reduce, backward identity     (o is replicated: each rank gets all of dJ/do)
backward by hand, on rank r:
    dJ/do = 2 (o - y) / (N k);  dJ/db2 = sum_n dJ/do;  dJ/dW2_r = dJ/do^T a_r;  dJ/da_r = dJ/do W2_r
    dJ/dh_r = (1 - a_r^2) dJ/da_r;  dJ/dW1_r = dJ/dh_r^T x;  dJ/db1_r = sum_n dJ/dh_r;  dJ/dx = all-reduce(dJ/dh_r W1_r)
`sharded` tests the Functions' backward (backward None: autograd runs them); `sharded_by_hand` the backward above.
"""

from functools import partial

import torch
import torch.distributed as dist
from torch.distributed.tensor import Replicate, Shard

from backprop_manual.distributed.layouts import chunk

layouts = {
    "W1": Shard(0),
    "b1": Shard(0),
    "h": Shard(1),
    "a": Shard(1),
    "W2": Shard(1),
    "b2": Replicate(),
    "o": Replicate(),
    "x": Replicate(),
    "loss": Replicate(),
}
N, D, H, K = 5, 4, 6, 2  # H = 6: on 4 ranks torch.chunk gives 2, 2, 2 and an empty last shard


class CopyToTensorParallel(torch.autograd.Function):
    """forward: x;  backward: all-reduce(dJ/dx) over the ranks"""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class ReduceFromTensorParallel(torch.autograd.Function):
    """forward: all-reduce(x) over the ranks;  backward: dJ/dx, as it is"""

    @staticmethod
    def forward(ctx, x):
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad):
        return grad


def forward(x, W1, b1, W2, b2, y):
    h = x @ W1.T + b1
    a = torch.tanh(h)
    o = a @ W2.T + b2
    return {"h": h, "a": a, "o": o, "loss": ((o - y) ** 2).mean()}


def reference():
    """Full tensors from a seeded generator, float64."""
    g = torch.Generator().manual_seed(19)

    def draw(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    params = {"x": draw(N, D), "W1": draw(H, D) / D**0.5, "b1": draw(H), "W2": draw(K, H) / H**0.5, "b2": draw(K)}
    return forward, params, {"y": draw(N, K)}


def tp_forward(x, W1, b1, W2, b2, y, copy=CopyToTensorParallel, reduce=ReduceFromTensorParallel):
    h = copy.apply(x) @ W1.T + b1
    a = torch.tanh(h)
    o = reduce.apply(a @ W2.T) + b2
    return {"h": h, "a": a, "o": o, "loss": ((o - y) ** 2).mean()}


def shards(rank: int, world_size: int) -> tuple[dict, dict]:
    _, p, inputs = reference()
    mine = {"W1": chunk(p["W1"], Shard(0), rank, world_size), "b1": chunk(p["b1"], Shard(0), rank, world_size)}
    return {"x": p["x"], **mine, "W2": chunk(p["W2"], Shard(1), rank, world_size), "b2": p["b2"]}, inputs


def sharded(rank, world_size, copy=CopyToTensorParallel, reduce=ReduceFromTensorParallel):
    """The Functions' backward under test: autograd runs copy's and reduce's backward (backward None)."""
    params, inputs = shards(rank, world_size)
    return partial(tp_forward, copy=copy, reduce=reduce), None, params, inputs


def all_reduce(t):
    t = t.clone()
    dist.all_reduce(t)
    return t


def backward(fwd, x, W1, b1, W2, b2, y):
    """The hand backward of the module's docstring, on this rank's shards."""
    d_o = 2 * (fwd["o"] - y) / y.numel()
    d_a = d_o @ W2  # reduce's backward: the identity
    d_h = (1 - fwd["a"] ** 2) * d_a
    d_x = all_reduce(d_h @ W1)  # copy's backward: the ranks' sum
    return {
        "o": d_o,
        "W2": d_o.T @ fwd["a"],
        "b2": d_o.sum(0),
        "a": d_a,
        "h": d_h,
        "W1": d_h.T @ x,
        "b1": d_h.sum(0),
        "x": d_x,
    }


def sharded_by_hand(rank, world_size, backward=backward):
    """The hand-written sharded backward under test (the Functions only carry the forward here)."""
    params, inputs = shards(rank, world_size)
    return tp_forward, backward, params, inputs
