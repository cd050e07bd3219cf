"""Data parallel on a linear model, by hand: z = X w, J = mean z^2; each rank a slice of the batch.

    backprop-manual verify --derivation docs/examples/data_parallel_mine.py --world-size 2
The one mistake: dJ/dw is each rank's own summand; the all-reduce that sums them is missing.
"""

import torch
from torch.distributed.tensor import Partial, Shard

layouts = {"z": Shard(0), "loss": Partial()}  # z: rows split by rank; the ranks' J's sum to J
N = 8


def forward(w, X):
    z = X @ w
    return {"z": z, "loss": (z**2).mean()}


def reference():
    X = torch.arange(3 * N, dtype=torch.float64).reshape(N, 3) / 10
    return forward, {"w": torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)}, {"X": X}


def rank_forward(w, X):
    z = X @ w
    return {"z": z, "loss": (z**2).sum() / N}  # this rank's summand of J


def backward(fwd, w, X):
    d_z = 2 * fwd["z"] / N  # dJ/dz of this rank's rows
    d_w = X.T @ d_z  # this rank's summand of dJ/dw: torch.distributed.all_reduce(d_w) belongs here
    return {"z": d_z, "w": d_w}


def sharded(rank, world_size):
    _, params, inputs = reference()
    return rank_forward, backward, params, {"X": torch.chunk(inputs["X"], world_size)[rank]}
