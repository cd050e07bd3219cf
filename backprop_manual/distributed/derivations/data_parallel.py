"""Data parallel: each rank a slice of the batch, the gradient of the global mean by hand, as DDP averages it.

reference (one process):                           X [N, d], y [N], w [d], b []
    z = X w + b,  sigma = sigmoid(z),  J = mean_n (sigma - y)^2
rank r holds X_r, y_r = chunk r of X, y along the batch (Shard(0)), w and b replicated; its own loss is its local
mean L_r over n_r = N / W samples, and J = (1/W) sum_r L_r (even shards), so the ranks' J_r = L_r / W sum to J
(layout "loss": Partial()). Backward by hand on rank r, from the local mean's gradient, averaged as DDP does:
    dL_r/dsigma = 2 (sigma - y_r) / n_r,  dL_r/dz = sigma (1 - sigma) dL_r/dsigma
    dJ/dsigma = dL_r/dsigma / W,  dJ/dz = dL_r/dz / W                    (J = (1/W) sum_r L_r)
    dJ/dw = all-reduce(X_r^T dL_r/dz) / W,  dJ/db = all-reduce(sum_n dL_r/dz) / W    (the average over ranks)
"""

import torch
import torch.distributed as dist
from torch.distributed.tensor import Partial, Replicate, Shard

from backprop_manual.distributed.layouts import chunk

layouts = {"z": Shard(0), "sigma": Shard(0), "w": Replicate(), "b": Replicate(), "loss": Partial()}
N, D = 12, 3  # 12 rows: even shards on 1, 2, 3, 4 or 6 ranks, as DDP's average assumes


def forward(w, b, X, y):
    z = X @ w + b
    sigma = torch.sigmoid(z)
    return {"z": z, "sigma": sigma, "loss": ((sigma - y) ** 2).mean()}


def reference():
    """Full tensors from a seeded generator, float64."""
    g = torch.Generator().manual_seed(19)
    X = torch.randn(N, D, generator=g, dtype=torch.float64)
    y = (torch.rand(N, generator=g, dtype=torch.float64) > 0.5).double()
    return forward, {"w": torch.randn(D, generator=g, dtype=torch.float64), "b": X.new_tensor(0.3)}, {"X": X, "y": y}


def rank_forward(w, b, X, y):
    """J_r = L_r / W: this rank's summand of J."""
    out = forward(w, b, X, y)
    return out | {"loss": out["loss"] / dist.get_world_size()}


def all_reduce(t):
    t = t.clone()
    dist.all_reduce(t)
    return t


def backward(fwd, w, b, X, y):
    """The hand backward of the module's docstring."""
    W = dist.get_world_size()
    d_sigma = 2 * (fwd["sigma"] - y) / y.shape[0]  # dL_r/dsigma, the local mean's
    d_z = fwd["sigma"] * (1 - fwd["sigma"]) * d_sigma
    return {"sigma": d_sigma / W, "z": d_z / W, "w": all_reduce(X.T @ d_z) / W, "b": all_reduce(d_z.sum()) / W}


def sharded(rank, world_size, backward=backward):
    _, params, inputs = reference()
    mine = {k: chunk(t, Shard(0), rank, world_size) for k, t in inputs.items()}
    return rank_forward, backward, params, mine
