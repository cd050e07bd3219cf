"""Sharded layers' hand-written backward passes, verified per rank on torch.distributed (gloo on CPU).

verify_distributed(reference, sharded, layouts=, world_size=2) -> DistributedReport (.ok, .first_divergence with
.name and .rank, .assert_ok(), .message()). verify.py (the entry), ranks.py (what each rank runs and sends back;
in a group already up), launcher.py (the ranks as processes the tool starts), layouts.py (Shard, Replicate,
Partial: a rank's view of a full tensor), report.py (the verdict, the table per rank); derivations/ the shipped
ones (tensor-parallel MLP, data parallel, sequence-parallel LayerNorm, ring attention).
The names are imported on first use: torch.distributed.tensor alone takes 0.5-3 s to import, which `import
backprop_manual` and every backprop-manual command that is not distributed should not pay.
"""

import importlib

_WHERE = {
    "verify_distributed": "backprop_manual.distributed.verify",
    "DistributedReport": "backprop_manual.distributed.report",
    "Divergence": "backprop_manual.distributed.report",
    "RankFailure": "backprop_manual.distributed.ranks",
    "ToolBug": "backprop_manual.distributed.ranks",
}

__all__ = list(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
