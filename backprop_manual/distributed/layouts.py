"""How a rank's local tensor relates to the full one (DTensor's placements), and rank r's view of a full tensor.

    Shard(d):    rank r holds torch.chunk(full, world_size, d)[r]   (the last chunk may be shorter, or empty)
    Replicate(): rank r holds the full tensor, its own copy
    Partial():   rank r holds a summand: full = sum over r of local_r   (its row's rank is "all")
A layout is the placement of a name's *gradient*. A parameter is held as its gradient is, except that a Partial
gradient's parameter (or forward value) is replicated, as the conjugate of a sum is a copy; "loss" names J itself.
"""

from collections.abc import Mapping, Sequence

import torch
from torch.distributed.tensor import Partial, Replicate, Shard
from torch.distributed.tensor.placement_types import Placement

from backprop_manual.check.graph import LOSS, ChainUsageError

ALL = "all"  # the rank of a Partial row: every rank's summand is in it


def placement_of(layouts: Mapping[str, Placement], name: str) -> Placement:
    return layouts.get(name, Replicate())


def check_layouts(layouts: Mapping | None) -> dict[str, Placement]:
    """A dict of name -> Shard(d), Replicate() or Partial(); anything else is a ChainUsageError."""
    layouts = dict(layouts or {})
    for name, p in layouts.items():
        if not isinstance(name, str) or not isinstance(p, Shard | Replicate | Partial):
            raise ChainUsageError(
                f"layouts[{name!r}] = {p!r}: each layout is Shard(dim), Replicate() or Partial() from "
                "torch.distributed.tensor, keyed by the name of an intermediate, a parameter or 'loss'"
            )
        if isinstance(p, Partial) and p.reduce_op != "sum":
            raise ChainUsageError(f"layouts[{name!r}] = {p!r}: only Partial() that sums (reduce_op 'sum') is supported")
        if name == LOSS and isinstance(p, Shard):
            raise ChainUsageError("layouts['loss'] is Replicate() or Partial(): J is a number, it has no shards")
    return layouts


def describe(p: Placement) -> str:
    return f"Shard({p.dim})" if isinstance(p, Shard) else type(p).__name__ + "()"


def chunk(full: torch.Tensor, p: Shard, rank: int, world_size: int) -> torch.Tensor:
    """torch.chunk(full, world_size, d)[rank], or an empty slice where torch.chunk makes fewer chunks."""
    d = p.dim % max(full.ndim, 1)
    pieces = torch.chunk(full, world_size, d)
    if rank < len(pieces):
        return pieces[rank]
    return full.narrow(d, full.shape[d], 0)


def bounds(full_shape: Sequence[int], p: Shard, world_size: int) -> list[tuple[int, int]]:
    """[start, stop) of each rank's chunk along p.dim."""
    d = p.dim % max(len(full_shape), 1)
    size = -(-full_shape[d] // world_size) if full_shape[d] else 0  # torch.chunk's chunk size: ceil
    return [(min(r * size, full_shape[d]), min((r + 1) * size, full_shape[d])) for r in range(world_size)]


def held(full: torch.Tensor, p: Placement, rank: int, world_size: int) -> torch.Tensor:
    """What rank `rank` should hold of a full parameter or forward value: its chunk under Shard(d), else the whole
    (Replicate(); a Partial gradient's value is replicated)."""
    return chunk(full, p, rank, world_size) if isinstance(p, Shard) else full


def view(
    name: str, p: Placement, local: Sequence[torch.Tensor | None], full: torch.Tensor, rank: int
) -> torch.Tensor | None:
    """Rank `rank`'s view of a gradient as a full tensor, for verify_chain: Shard(d), its own chunk spliced into the
    reference's full gradient (the other chunks are other ranks' rows), or its local tensor as it is where it is not
    the chunk's shape (verify_chain then reports the shape); Replicate(), its own copy; Partial(), the ranks' sum."""
    mine = local[rank]
    if isinstance(p, Partial):
        if any(t is None for t in local):
            return None
        if len({tuple(t.shape) for t in local}) != 1:
            return mine
        return torch.stack(list(local)).sum(0)
    if mine is None or not isinstance(p, Shard):
        return mine
    start, stop = bounds(full.shape, p, len(local))[rank]
    d = p.dim % max(full.ndim, 1)
    expected = list(full.shape)
    expected[d] = stop - start
    if list(mine.shape) != expected or mine.dtype != full.dtype or mine.device != full.device:
        return mine
    out = full.detach().clone()
    out.narrow(d, start, stop - start).copy_(mine)
    return out
