"""backprop_manual: hand-derived backpropagation verified against autograd at every intermediate, in chain order.

The public surface (each name's docstring is its formula or contract; everything else is importable by its module
path, e.g. backprop_manual.check.model, and may move):

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
The lesson's neuron: z = w·x + b,  sigma = sigmoid(z),  J = (sigma - y)^2 (backprop_manual.neuron)
    linear_fn, activation_fn, cost_fn                z, sigma, J
    delta_J_delta_sigma, delta_sigma_delta_z (alias delta_sigma_delta), delta_z_delta_w, delta_z_delta_b
                                                     2 (sigma - y),  sigma (1 - sigma),  x,  1
    forward, backward, gradients; Forward, Gradients, CHAIN   the two passes; their records, in chain order
    gradient_descent, Descent                        the per-sample loop, corrected; its result (w, b, trajectory)
    lesson_loop                                      the lesson's loop as written, bug included (an exhibit)
    load_cell_data                                   the cell data set (or any CSV like it) as tensors
The neuron verified (backprop_manual.check)
    verify_gradients                                 verify_chain on the neuron, per sample, with the lesson's names
    autograd_gradients                               the neuron's oracle: torch's own ops, one autograd pass
    nn_sgd_descent, compare_trajectories             torch.nn + MSELoss + SGD; the two loops step by step
"""

from backprop_manual.check import ChainReport, ChainUsageError, TrainingReport, verify_chain, verify_training
from backprop_manual.check.function import FunctionReport, verify_function
from backprop_manual.neuron.data import load_cell_data
from backprop_manual.neuron.forward import activation_fn, cost_fn, linear_fn
from backprop_manual.neuron.lesson import lesson_loop
from backprop_manual.neuron.local_derivatives import (
    delta_J_delta_sigma,
    delta_sigma_delta,
    delta_sigma_delta_z,
    delta_z_delta_b,
    delta_z_delta_w,
)
from backprop_manual.neuron.loop import Descent, gradient_descent
from backprop_manual.neuron.passes import CHAIN, Forward, Gradients, backward, forward, gradients
from backprop_manual.neuron_check.trajectory import compare_trajectories, nn_sgd_descent
from backprop_manual.neuron_check.verify import autograd_gradients, verify_gradients


def __getattr__(name: str):
    """verify_distributed on first use: torch.distributed.tensor is slow to import (backprop_manual/distributed)."""
    if name == "verify_distributed":
        from backprop_manual.distributed import verify_distributed

        return verify_distributed
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CHAIN",
    "ChainReport",
    "ChainUsageError",
    "TrainingReport",
    "Descent",
    "Forward",
    "FunctionReport",
    "Gradients",
    "activation_fn",
    "autograd_gradients",
    "backward",
    "compare_trajectories",
    "cost_fn",
    "delta_J_delta_sigma",
    "delta_sigma_delta",
    "delta_sigma_delta_z",
    "delta_z_delta_b",
    "delta_z_delta_w",
    "forward",
    "gradient_descent",
    "gradients",
    "lesson_loop",
    "linear_fn",
    "load_cell_data",
    "nn_sgd_descent",
    "verify_chain",
    "verify_distributed",
    "verify_function",
    "verify_gradients",
    "verify_training",
]
