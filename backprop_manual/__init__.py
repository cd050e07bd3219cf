"""backprop_manual: hand-derived backpropagation verified against autograd at every intermediate, in chain order.

Any derivation: verify_chain(forward, backward, params, inputs) and verify_training(...) (backprop_manual.check).
The lesson's neuron, one instance of it:
z = w·x + b,  sigma = sigmoid(z),  J = (sigma - y)^2
dJ/dsigma = 2 (sigma - y);  dJ/dz = sigma (1 - sigma) · dJ/dsigma;  dJ/dw = x · dJ/dz;  dJ/db = 1 · dJ/dz
"""

from backprop_manual.check import ChainReport, ChainUsageError, TrainingReport, verify_chain, verify_training
from backprop_manual.data import load_cell_data
from backprop_manual.forward import activation_fn, cost_fn, linear_fn
from backprop_manual.lesson import lesson_loop
from backprop_manual.local_derivatives import (
    delta_J_delta_sigma,
    delta_sigma_delta,
    delta_sigma_delta_z,
    delta_z_delta_b,
    delta_z_delta_w,
)
from backprop_manual.loop import Descent, gradient_descent
from backprop_manual.passes import CHAIN, Forward, Gradients, backward, forward, gradients
from backprop_manual.reference import autograd_gradients
from backprop_manual.reference_loop import nn_sgd_descent
from backprop_manual.trajectory import compare_trajectories
from backprop_manual.verify import verify_gradients

__all__ = [
    "CHAIN",
    "ChainReport",
    "ChainUsageError",
    "TrainingReport",
    "Descent",
    "Forward",
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
    "verify_gradients",
    "verify_training",
]
