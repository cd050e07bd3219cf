"""verify_distributed: a sharded layer's hand-written backward, per rank, against autograd on the unsharded reference.

    reference() -> (forward, params, inputs)                       one process, full tensors (verify_chain's contract)
    sharded(rank, world_size) -> (forward, backward | None, params, inputs)   inside each rank, the group up
    layouts = {name: Shard(d) | Replicate() | Partial()}           each gradient's placement (default Replicate())
The ranks run as processes the tool starts (launcher.spawn), or, when a process group is already up (torchrun), in it;
report.judge compares every rank's view with the reference through verify_chain, in chain order.
"""

from collections.abc import Callable, Mapping

import torch
import torch.distributed as dist
from torch.distributed.tensor.placement_types import Placement

from backprop_manual.check import ChainUsageError
from backprop_manual.distributed.launcher import spawn
from backprop_manual.distributed.layouts import check_layouts
from backprop_manual.distributed.ranks import RankFailure, check_function, in_group
from backprop_manual.distributed.report import DistributedReport, judge

TIMEOUT_S = 60.0  # a spawn costs 2-3 s here and the shipped derivations a fraction of a second: a hang, not a load


def verify_distributed(
    reference: Callable,
    sharded: Callable,
    layouts: Mapping[str, Placement] | None = None,
    world_size: int = 2,
    *,
    timeout: float = TIMEOUT_S,
) -> DistributedReport:
    """Every rank's parameters, stated forward values and gradients against its view of the reference's."""
    check_function(reference, "reference")
    check_function(sharded, "sharded")
    layouts = check_layouts(layouts)
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ChainUsageError(f"world_size must be a whole number of at least 1, not {world_size!r}")
    got = _users("reference()", reference)
    if not (isinstance(got, tuple | list) and len(got) == 3):
        raise ChainUsageError("reference() must return (forward, params, inputs), as verify_chain takes them")
    forward, params, inputs = got
    with torch.no_grad():  # once here, so that its own exceptions are the user's (exit 2), not taken for ours
        _users("the reference's forward", forward, **params, **(inputs or {}))
    if dist.is_available() and dist.is_initialized():
        results = in_group(sharded)
        failed = next(((r, res) for r, res in enumerate(results) if res["status"] != "ok"), None)
        if failed:  # every rank raises the same, so that none goes on alone
            raise RankFailure(failed[0], failed[1]["status"], failed[1]["detail"])
    else:
        results = spawn(sharded, world_size, timeout)
    return judge(forward, params, dict(inputs or {}), layouts, results)


def _users(what: str, fn: Callable, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except Exception as e:
        raise ChainUsageError(
            f"{what} raised {type(e).__name__}: {str(e).strip().splitlines()[0] if str(e) else ''}"
        ) from e
