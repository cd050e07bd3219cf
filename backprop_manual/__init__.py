"""backprop_manual: hand-derived backpropagation verified against autograd at every intermediate, in chain order.

The public surface: the verifier's names, each below (each name's docstring is its formula or contract; everything
else is importable by its module path, e.g. backprop_manual.check.model, and may move). The lesson's neuron itself
(linear_fn, delta_J_delta_sigma, gradient_descent, ...) is backprop_manual.neuron.

Any derivation (backprop_manual.check)
    verify_chain(forward, backward, params, inputs)  every dJ/d(name) of your backward against autograd, in chain order
    verify_training(forward, backward, params, inputs, lr=, epochs=)  your backward driving SGD vs torch.optim.SGD
    verify_function(fn, reference, **kwargs)         a custom autograd.Function: fn's outputs vs reference's, then
                                                     dJ/d(input) of J = Σ <out, v> (random v, several draws) from fn's
                                                     own backward vs autograd through reference; in-place changes and
                                                     non-contiguous inputs tried
    ChainReport, TrainingReport, FunctionReport      .ok, .first_divergence, .message(), .table(), .assert_ok()
    ChainUsageError                                  a forward or backward that breaks the contract
Sharded layers on torch.distributed (backprop_manual.distributed, imported on first use)
    verify_distributed(reference, sharded, layouts=, world_size=2)  every rank's gradients vs its view of autograd's
                                                     on the unsharded reference, chain order; .first_divergence.rank
The lesson's neuron verified (backprop_manual.neuron_check)
    verify_gradients                                 verify_chain on the neuron, per sample, with the lesson's names
    autograd_gradients                               the neuron's oracle: torch's own ops, one autograd pass
    nn_sgd_descent, compare_trajectories             torch.nn + MSELoss + SGD; the two loops step by step

The lesson's names that were here (linear_fn, ..., gradient_descent, load_cell_data) still work for one release,
with a DeprecationWarning naming backprop_manual.neuron, where they live.
"""

import warnings

from backprop_manual import neuron
from backprop_manual.check import ChainReport, ChainUsageError, TrainingReport, verify_chain, verify_training
from backprop_manual.check.function import FunctionReport, verify_function
from backprop_manual.neuron_check.trajectory import compare_trajectories, nn_sgd_descent
from backprop_manual.neuron_check.verify import autograd_gradients, verify_gradients

# Top-level in 0.1.0, backprop_manual.neuron's since: reachable here for one release, with a DeprecationWarning.
_MOVED_TO_NEURON = frozenset(neuron.__all__)


def __getattr__(name: str):
    """verify_distributed on first use: torch.distributed.tensor is slow to import (backprop_manual/distributed).
    The lesson's names, moved to backprop_manual.neuron, with a DeprecationWarning."""
    if name == "verify_distributed":
        from backprop_manual.distributed import verify_distributed

        return verify_distributed
    if name in _MOVED_TO_NEURON:
        warnings.warn(
            f"backprop_manual.{name} has moved to backprop_manual.neuron.{name}: "
            f"`from backprop_manual.neuron import {name}`; the top-level name goes in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(neuron, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ChainReport",
    "ChainUsageError",
    "FunctionReport",
    "TrainingReport",
    "autograd_gradients",
    "compare_trajectories",
    "nn_sgd_descent",
    "verify_chain",
    "verify_distributed",
    "verify_function",
    "verify_gradients",
    "verify_training",
]
