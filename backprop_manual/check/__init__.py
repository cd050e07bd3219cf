"""The chain verifier: any hand-derived backward against autograd, every named gradient, in chain order.

verify_chain(forward, backward, params, inputs) -> ChainReport (.ok, .first_divergence, .assert_ok(), .message())
verify_training(...) -> TrainingReport: the hand backward driving SGD against autograd + torch.optim.SGD

Any derivation: chain.py (verify_chain, the report), oracle.py (autograd, batch and per sample), graph.py (chain
order from autograd's graph), compare.py (one row), model.py (the error model: autograd's own rounding),
tolerances.py (assert_close's tolerances, for information; ULP distance), witness.py (finite differences),
training.py (verify_training), function.py (verify_function).
Nothing here imports the lesson (backprop_manual.neuron): the lesson's neuron as one instance of the verifier is
backprop_manual.neuron_check (tests/test_layers.py keeps it so).
"""

from backprop_manual.check.chain import ChainReport, verify_chain
from backprop_manual.check.compare import Row
from backprop_manual.check.graph import ChainUsageError
from backprop_manual.check.training import TrainingReport, verify_training

__all__ = ["ChainReport", "ChainUsageError", "Row", "TrainingReport", "verify_chain", "verify_training"]
