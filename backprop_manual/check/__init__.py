"""The chain verifier: any hand-derived backward against autograd, every named gradient, in chain order.

verify_chain(forward, backward, params, inputs) -> ChainReport (.ok, .first_divergence, .assert_ok(), .message())
verify_training(...) -> TrainingReport: the hand backward driving SGD against autograd + torch.optim.SGD
"""

from backprop_manual.check.chain import ChainReport, verify_chain
from backprop_manual.check.compare import Row
from backprop_manual.check.graph import ChainUsageError
from backprop_manual.check.training import TrainingReport, verify_training

__all__ = ["ChainReport", "ChainUsageError", "Row", "TrainingReport", "verify_chain", "verify_training"]
