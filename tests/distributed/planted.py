"""Planted mistakes in the shipped distributed derivations, module-level so that the ranks can import them."""

from functools import partial

import torch
import torch.distributed as dist
from torch.distributed.tensor import Shard

from backprop_manual.distributed.derivations import data_parallel, ring_attention, sp_layernorm, tp_mlp
from backprop_manual.distributed.layouts import chunk


class CopyWithoutAllReduce(torch.autograd.Function):
    """copy's backward as the identity: each rank keeps its own summand of dJ/dx"""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


class ReduceAllReducingBack(torch.autograd.Function):
    """reduce's backward all-reduces too: dJ/do, already whole on every rank, summed again (world_size times)"""

    @staticmethod
    def forward(ctx, x):
        return tp_mlp.all_reduce(x)

    @staticmethod
    def backward(ctx, grad):
        return tp_mlp.all_reduce(grad)


def tp_backward(fwd, x, W1, b1, W2, b2, y, reduce_dx=True, dW2_transposed=False, skip_on_rank=None):
    """tp_mlp.backward, with one of its steps done wrong."""
    d_o = 2 * (fwd["o"] - y) / y.numel()
    d_a = d_o @ W2
    d_h = (1 - fwd["a"] ** 2) * d_a
    d_x = d_h @ W1
    if reduce_dx and dist.get_rank() != skip_on_rank:
        d_x = tp_mlp.all_reduce(d_x)
    d_W2 = fwd["a"].T @ d_o if dW2_transposed else d_o.T @ fwd["a"]
    return {"o": d_o, "W2": d_W2, "b2": d_o.sum(0), "a": d_a, "h": d_h, "W1": d_h.T @ x, "b1": d_h.sum(0), "x": d_x}


def dp_backward(fwd, w, b, X, y, divide_after=1, divide_before=1):
    """data_parallel.backward, its average over ranks taken as all-reduce(summand / divide_before) / divide_after"""
    W = dist.get_world_size()
    d_sigma = 2 * (fwd["sigma"] - y) / y.shape[0]
    d_z = fwd["sigma"] * (1 - fwd["sigma"]) * d_sigma
    w_grad = tp_mlp.all_reduce(X.T @ d_z / divide_before) / divide_after
    b_grad = tp_mlp.all_reduce(d_z.sum() / divide_before) / divide_after
    return {"sigma": d_sigma / W, "z": d_z / W, "w": w_grad, "b": b_grad}


def dp_summed(rank, world_size):
    return data_parallel.sharded(rank, world_size, backward=partial(dp_backward, divide_after=1))


def dp_averaged_twice(rank, world_size):
    return data_parallel.sharded(
        rank, world_size, backward=partial(dp_backward, divide_after=world_size, divide_before=world_size)
    )


def dp_local_mean_loss(rank, world_size):
    """Each rank's J is its local mean, not its summand: the ranks' J's sum to W·J."""
    _, _, params, inputs = data_parallel.sharded(rank, world_size)
    return data_parallel.forward, data_parallel.backward, params, inputs


def tp_W1_neighbours_shard(rank, world_size):
    """rank r holds W1's chunk r + 1 (mod W), its neighbour's: the same shape, other values"""
    forward, backward, params, inputs = tp_mlp.sharded_by_hand(rank, world_size)
    _, full, _ = tp_mlp.reference()
    return forward, backward, params | {"W1": chunk(full["W1"], Shard(0), (rank + 1) % world_size, world_size)}, inputs


def raises_on_rank_1(fwd, **kwargs):
    if dist.get_rank() == 1:
        raise ValueError("planted on rank 1")
    return tp_mlp.backward(fwd, **kwargs)


def ring_off_by_one(r, t, W):
    """the block rank r believes it holds at step t: one ahead of the one it has"""
    return (r - t + 1) % W


def mask_on_wrong_block(s, r, j):
    """the causal triangle applied to the blocks before the diagonal instead of the diagonal block itself"""
    if j > r:
        return torch.full_like(s, -torch.inf)
    if j < r:
        return s.masked_fill(torch.ones_like(s, dtype=torch.bool).triu(1), -torch.inf)
    return s


def ring(**mistake):
    return partial(ring_attention.sharded, backward=partial(ring_attention.backward, **mistake))


MISTAKES = {
    # name: (the derivation, its sharded with the mistake, the (name, rank) to blame, its status)
    "copy-backward-without-all-reduce": (
        tp_mlp,
        partial(tp_mlp.sharded, copy=CopyWithoutAllReduce),
        ("x", 0),
        "MISMATCH",
    ),
    "all-reduce-applied-twice": (tp_mlp, partial(tp_mlp.sharded, reduce=ReduceAllReducingBack), ("W2", 0), "MISMATCH"),
    "dx-not-all-reduced": (
        tp_mlp,
        partial(tp_mlp.sharded_by_hand, backward=partial(tp_backward, reduce_dx=False)),
        ("x", 0),
        "MISMATCH",
    ),
    "dW2-shard-of-wrong-dimension": (
        tp_mlp,
        partial(tp_mlp.sharded_by_hand, backward=partial(tp_backward, dW2_transposed=True)),
        ("W2", 0),
        "shape",
    ),
    "summed-instead-of-averaged": (data_parallel, dp_summed, ("w", 0), "MISMATCH"),
    "dgamma-dbeta-not-all-reduced": (
        sp_layernorm,
        partial(sp_layernorm.sharded, backward=partial(sp_layernorm.backward, reduce=torch.clone)),
        ("gamma", 0),
        "MISMATCH",
    ),
    # rank 0's dV_0 misses the contribution of rank 1's queries, at the last step (W = 2): only rank 0's shard
    "ring-missing-block": (ring_attention, ring(skip_step=1), ("v", 0), "MISMATCH"),
    "ring-off-by-one-block-order": (ring_attention, ring(order=ring_off_by_one), ("v", 0), "MISMATCH"),
    "ring-causal-mask-on-wrong-block": (ring_attention, ring(mask=mask_on_wrong_block), ("v", 0), "MISMATCH"),
    "averaged-twice": (data_parallel, dp_averaged_twice, ("w", 0), "MISMATCH"),
}


def raises_on_rank_1_sharded(rank, world_size):
    return tp_mlp.sharded_by_hand(rank, world_size, backward=raises_on_rank_1)


def rank_1_skips_the_all_reduce(rank, world_size):
    """rank 1 leaves out dJ/dx's all-reduce: rank 0 waits in it for ever"""
    return tp_mlp.sharded_by_hand(rank, world_size, backward=partial(tp_backward, skip_on_rank=1))


def notebook_function():
    """A function as a notebook defines it: its module, __main__ of a kernel, has no file to import it from."""
    import types

    module = types.ModuleType("__notebook_main__")
    exec("def sharded(rank, world_size):\n    return None\n", module.__dict__)
    import sys

    sys.modules.setdefault("__notebook_main__", module)
    return module.sharded


def own_launcher(rank, world_size, folder, sharded):
    """A user's own launcher (as torchrun would be): the group is up before verify_distributed is called."""
    import os
    from pathlib import Path

    from backprop_manual.distributed import verify_distributed

    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    dist.init_process_group(
        "gloo", store=dist.FileStore(f"{folder}/store", world_size), rank=rank, world_size=world_size
    )
    report = verify_distributed(tp_mlp.reference, sharded, tp_mlp.layouts)
    first = report.first_divergence
    torch.save((report.ok, first and (first.name, first.rank)), Path(folder) / f"verdict{rank}.pt")
    dist.destroy_process_group()
