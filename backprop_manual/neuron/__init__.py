"""The lesson's neuron, by hand: z = w·x + b, sigma = sigmoid(z), J = (sigma - y)^2.

forward.py            linear_fn, activation_fn, cost_fn
local_derivatives.py  dJ/dsigma = 2 (sigma - y), dsigma/dz = sigma (1 - sigma), dz/dw = x, dz/db = 1
passes.py             forward (keeps z, sigma, J), backward (upstream × local), Gradients in chain order
loop.py               the per-sample gradient-descent loop, and what it accepts (one dtype, one device)
lesson.py             the lesson's loop as written, bug included, as an exhibit
data.py               the cell data set and any CSV like it, checked and read in chunks

Nothing here imports the verifier: the lesson stands on its own, and backprop_manual.check verifies it.
"""
