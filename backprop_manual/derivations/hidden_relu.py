"""One hidden layer, d -> H -> 1, ReLU, sigmoid output, binary cross-entropy: hidden.py with h = relu(z1).

forward:   z1 = X W1 + b1;  h = relu(z1) = max(z1, 0);  z2 = h W2 + b2;  sigma = sigmoid(z2);  J = mean BCE, from z2
backward:  as in hidden.py, with the ReLU's local derivative
    dJ/dz1 = 1[z1 > 0] ∘ dJ/dh          dReLU/dz = 1 where z > 0, and 0 where z <= 0: at exactly z = 0 it is 0
At z = 0 ReLU has no derivative (left 0, right 1); any value in [0, 1] is a subgradient, and a derivation has to
pick one. This one picks 0, as torch.relu's backward does (threshold_backward: the gradient passes where z > 0).
Beware that torch.clamp(z1, min=0), the same function, has backward 1 at z = 0 (it passes where z >= min): with it
in the forward, autograd would disagree with this derivation at the kink and only there, and finite differences,
which straddle the kink, cannot say which of the two is wrong: neither is, they are two conventions.
The example puts the kink in the data: b1 = -(X W1)[0] for the first H/2 units, so sample 0 has z1 exactly 0 there
and dJ/dz1 is 0 although dJ/dh is not (tests/derivations/test_hidden_relu.py).
"""

import torch

from backprop_manual.derivations import hidden

LR = 0.5


def relu_local(z1, h):
    """dh/dz1 = 1 where z1 > 0, else 0 (0 at z1 = 0, as torch.relu's backward)"""
    return (z1 > 0).to(z1.dtype)


def forward(W1, b1, W2, b2, X, y):
    return hidden.forward_with(torch.relu, W1, b1, W2, b2, X, y)


def backward(fwd, W1, b1, W2, b2, X, y):
    return hidden.backward_with(relu_local, fwd, W1, b1, W2, b2, X, y)


def example(dtype, device, *, seed=0):
    """hidden.example's point, with b1 = -(X W1)[0] for the first H/2 units: z1[0, :H/2] is exactly 0 (a + (-a))."""
    params, inputs = hidden.example(dtype, device, seed=seed)
    half = params["b1"].shape[0] // 2
    params["b1"][:half] = -(inputs["X"] @ params["W1"])[0, :half]  # the forward's own product, so bit for bit
    return params, inputs
