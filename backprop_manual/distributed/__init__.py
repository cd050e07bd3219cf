"""Sharded layers' hand-written backward passes, verified per rank on torch.distributed (gloo on CPU).

verify_distributed(reference, sharded, layouts=, world_size=2) -> DistributedReport (.ok, .first_divergence with
.name and .rank, .assert_ok(), .message()). verify.py (the entry), ranks.py (what each rank runs; spawn or a group
already up), layouts.py (Shard, Replicate, Partial: a rank's view of a full tensor), report.py (the verdict, the
table per rank); derivations/ the shipped ones (tensor-parallel MLP, data parallel).
"""

from backprop_manual.distributed.ranks import RankFailure, ToolBug
from backprop_manual.distributed.report import DistributedReport, Divergence
from backprop_manual.distributed.verify import verify_distributed

__all__ = ["DistributedReport", "Divergence", "RankFailure", "ToolBug", "verify_distributed"]
