"""The per-sample gradient-descent loop of the lesson's "All together now", corrected.

for each epoch, for each sample (x, y):
    forward:  z = w·x + b,  y_hat = sigma(z),  J = (y_hat - y)^2               (passes.forward)
    backward: dJ/dw, dJ/db, upstream × local derivative, dz/dw = this sample's x (passes.backward; the lesson uses
              first_x: erratum)
    update:   w <- w - eta·dJ/dw,  b <- b - eta·dJ/db

This is the loop the trajectory check trains, so it must run the derivation being verified: passes and
local_derivatives are looked up at call time, and a wrong local derivative makes the trajectory part from
torch.nn + SGD at its first step. The same arithmetic fused into 10 tensor ops per step, for speed only, is
fused_loop.fused_descent (bit for bit equal: tests/variants/test_variants.py).
"""

from typing import NamedTuple

import torch

from backprop_manual.neuron import passes


class Descent(NamedTuple):
    w: torch.Tensor  # final w, 0-d
    b: torch.Tensor  # final b, 0-d
    trajectory: torch.Tensor | None  # [epochs, N, 3]: w and b after each step's update, J of that step's forward


def gradient_descent(
    w: torch.Tensor,
    b: torch.Tensor,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    eta: float = 1e-4,
    epochs: int = 20,
    trajectory: bool = False,
) -> Descent:
    """Per-sample gradient descent from (w, b) over `epochs` passes of (X, y): forward, backward (upstream × local),
    update, as the lesson writes it; the caller's w and b are not changed."""
    check_neuron_inputs(w, b, X, y)
    w, b = w.detach().clone(), b.detach().clone()
    steps = X.new_empty((epochs, X.shape[0], 3)) if trajectory else None
    samples = list(zip(X.unbind(), y.unbind()))  # unbind once: indexing X[i] every step costs a tensor op
    with torch.inference_mode():  # no autograd bookkeeping per op; w and b stay normal tensors
        for epoch in range(epochs):
            for i, (x_i, y_i) in enumerate(samples):
                fp = passes.forward(w, x_i, b, y_i)
                grads = passes.backward(x_i, y_i, fp)
                w.add_(grads.delta_J_delta_w, alpha=-eta)  # alpha form: rounded as torch.optim.SGD rounds it
                b.add_(grads.delta_J_delta_b, alpha=-eta)
                if steps is not None:
                    torch.stack((w, b, fp.J), out=steps[epoch, i])
    return Descent(w, b, steps)


# What the loops accept: one dtype and one device for everything, decided by the caller, never by promotion.
#
# The lesson's w = torch.tensor(2.) is a 0-d float32; multiplied by its float64 sample of shape [1] it becomes a
# float64 of shape [1] after the first update. That silent promotion is what we refuse: the parameters are 0-d
# tensors of X's dtype on X's device, X holds one feature value per sample (shape [N]), and what comes out of the
# loops has exactly the dtype, device and shape that went in. (`backprop_manual.neuron.lesson` keeps the lesson's own
# behaviour, promotion included, as an exhibit.)


def check_neuron_inputs(w: torch.Tensor, b: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> None:
    """Raise ValueError naming the first argument that would make torch promote, broadcast or move data."""
    if X.ndim != 1:
        raise ValueError(
            f"X must be 1-D, one feature value per sample; got shape {list(X.shape)}"
            + (" (use X.squeeze(1))" if X.ndim == 2 and X.shape[1] == 1 else "")
        )
    if not X.is_floating_point():
        raise ValueError(f"X must be a floating-point tensor; got {X.dtype}")
    for name, p in (("w", w), ("b", b)):
        if p.ndim != 0:
            raise ValueError(f"{name} must be a 0-d tensor; got shape {list(p.shape)}")
        if p.dtype != X.dtype:
            raise ValueError(
                f"{name} is {p.dtype} but X is {X.dtype}: torch would promote the result behind your back; "
                f"create {name} with dtype={X.dtype}"
            )
    if y.shape != X.shape:
        raise ValueError(f"y must have X's shape {list(X.shape)}; got {list(y.shape)}")
    if y.is_floating_point() and y.dtype != X.dtype:
        raise ValueError(f"y is {y.dtype} but X is {X.dtype}: use X's dtype or an integer target")
    for name, t in (("w", w), ("b", b), ("y", y)):
        if t.device != X.device:
            raise ValueError(f"{name} is on {t.device} but X is on {X.device}: move them yourself")
