"""The lesson's neuron, by hand: z = w·x + b, sigma = sigmoid(z), J = (sigma - y)^2.

    linear_fn, activation_fn, cost_fn                z = w·x + b,  sigma = sigmoid(z),  J = (sigma - y)^2
    delta_J_delta_sigma, delta_sigma_delta_z (alias delta_sigma_delta), delta_z_delta_w, delta_z_delta_b
                                                     2 (sigma - y),  sigma (1 - sigma),  x,  1
    forward, backward, gradients                     the two passes (forward keeps z, sigma, J; backward: upstream ×
                                                     local), and the two in a row
    Forward, Gradients, CHAIN                        their records; Gradients' fields in chain order
    gradient_descent, Descent                        the per-sample loop, corrected; its result (w, b, trajectory)
    lesson_loop                                      the lesson's loop as written, bug included (an exhibit)
    load_cell_data                                   the cell data set (or any CSV like it) as tensors

Modules, one concept each:
forward.py            linear_fn, activation_fn, cost_fn
local_derivatives.py  dJ/dsigma = 2 (sigma - y), dsigma/dz = sigma (1 - sigma), dz/dw = x, dz/db = 1
passes.py             forward (keeps z, sigma, J), backward (upstream × local), Gradients in chain order
loop.py               the per-sample gradient-descent loop, and what it accepts (one dtype, one device)
lesson.py             the lesson's loop as written, bug included, as an exhibit
data.py               the cell data set and any CSV like it, checked and read in chunks

`backprop_manual.neuron.forward` is the forward pass (passes.forward), as the lesson names it; the module of the
forward pieces is still imported by its path: `from backprop_manual.neuron.forward import linear_fn`.

Nothing here imports the verifier: the lesson stands on its own, and backprop_manual.neuron_check verifies it
(tests/test_layers.py keeps it so).
"""

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

__all__ = [
    "CHAIN",
    "Descent",
    "Forward",
    "Gradients",
    "activation_fn",
    "backward",
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
]
