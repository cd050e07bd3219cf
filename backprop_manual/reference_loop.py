"""The lesson's closing PyTorch loop as a reference: torch.nn + MSELoss + torch.optim.SGD, one sample per step.

(The lesson's snippet feeds `X_tensor`, the whole data set, to `net` at every step: erratum. Here each step sees
its own sample.)
"""

import torch

from backprop_manual.inputs import check_neuron_inputs
from backprop_manual.loop import Descent


def nn_sgd_descent(
    w: torch.Tensor,
    b: torch.Tensor,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    eta: float = 1e-4,
    epochs: int = 20,
    trajectory: bool = False,
) -> Descent:
    """net = Linear(1, 1) then Sigmoid, starting at (w, b); per sample: zero_grad, forward, backward, step."""
    check_neuron_inputs(w, b, X, y)
    net = torch.nn.Sequential(torch.nn.Linear(1, 1, device=X.device, dtype=X.dtype), torch.nn.Sigmoid())
    linear = net[0]
    with torch.no_grad():
        linear.weight.copy_(w)
        linear.bias.copy_(b)
    criterion = torch.nn.MSELoss(reduction="sum")  # one sample: sum = mean = J
    opt = torch.optim.SGD(net.parameters(), lr=eta)
    steps = X.new_empty((epochs, X.shape[0], 3)) if trajectory else None
    samples = list(zip(X.reshape(-1, 1, 1).unbind(), y.to(X.dtype).reshape(-1, 1, 1).unbind()))
    for epoch in range(epochs):
        for i, (x_i, y_i) in enumerate(samples):
            opt.zero_grad()
            y_hat = net(x_i)  # [1, 1]: one sample
            loss = criterion(y_hat, y_i)
            loss.backward()
            opt.step()
            if steps is not None:
                with torch.no_grad():
                    steps[epoch, i, 0], steps[epoch, i, 1], steps[epoch, i, 2] = linear.weight, linear.bias, loss
    return Descent(linear.weight.detach().reshape(()).clone(), linear.bias.detach().reshape(()).clone(), steps)
