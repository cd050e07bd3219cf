"""fused_loop.manual_step captured once in a CUDA graph and replayed per sample: the documented remedy for launch
overhead.

An eager CUDA step launches ~10 tiny kernels, each costing more to launch than to run. The graph holds the whole
step, including picking sample i from X and advancing i, so a replay is one launch and needs no host-side copy.

`IndexedStep` is that step as plain tensor ops, runnable eagerly on any device (tested on the CPU, bit for bit
against gradient_descent); `GraphedDescent` only captures it, which needs CUDA. The capture lines carry
`# pragma: no mutate`: no CPU machine can run them, so no CPU test could kill their mutants (docs/mutmut.md).
"""

import torch

from backprop_manual.neuron.loop import Descent, check_neuron_inputs
from backprop_manual.variants.fused_loop import manual_step


class IndexedStep:
    """Called: one manual_step on sample i of (X, y), then i <- (i + 1) mod N; w, b updated in place.

    Everything, i included, stays a tensor on X's device, so nothing is read back to the host: capturable.
    """

    def __init__(self, w: torch.Tensor, b: torch.Tensor, X: torch.Tensor, y: torch.Tensor, *, eta: float):
        check_neuron_inputs(w, b, X, y)
        self.w, self.b = w.detach().clone(), b.detach().clone()
        self.X, self.y = X, y  # an integer y is promoted in y_hat - y, as in gradient_descent
        self.i = torch.zeros(1, dtype=torch.long, device=X.device)  # index_select, not X[i]: no host sync
        self.n = X.shape[0]
        self.eta = eta
        self.one = torch.ones_like(self.w)

    def __call__(self) -> None:
        x, y = (t.index_select(0, self.i).squeeze(0) for t in (self.X, self.y))
        manual_step(self.w, self.b, x, y, self.eta, self.one)
        self.i.add_(1).remainder_(self.n)

    def reset(self, w: torch.Tensor, b: torch.Tensor) -> None:
        self.w.copy_(w)
        self.b.copy_(b)
        self.i.zero_()


class GraphedDescent:
    """An IndexedStep captured once; `replay()` runs it as one launch. w, b: the step's, updated in place."""

    def __init__(self, w: torch.Tensor, b: torch.Tensor, X: torch.Tensor, y: torch.Tensor, *, eta: float):
        if not X.is_cuda:
            raise ValueError(f"CUDA graphs need CUDA tensors; X is on {X.device}")
        self.step = IndexedStep(w, b, X, y, eta=eta)  # pragma: no mutate
        self.w, self.b, self.n = self.step.w, self.step.b, self.step.n  # pragma: no mutate
        start = (self.w.clone(), self.b.clone())  # pragma: no mutate
        side = torch.cuda.Stream()  # pragma: no mutate  (warm up on a side stream, as torch.cuda.graphs documents)
        side.wait_stream(torch.cuda.current_stream())  # pragma: no mutate
        with torch.cuda.stream(side), torch.inference_mode():  # pragma: no mutate
            self.step()  # pragma: no mutate
        torch.cuda.current_stream().wait_stream(side)  # pragma: no mutate
        self.graph = torch.cuda.CUDAGraph()  # pragma: no mutate
        with torch.cuda.graph(self.graph), torch.inference_mode():  # pragma: no mutate
            self.step()  # pragma: no mutate
        self.step.reset(*start)  # pragma: no mutate

    def replay(self) -> None:
        self.graph.replay()  # pragma: no mutate


def graphed_descent(
    w: torch.Tensor,
    b: torch.Tensor,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    eta: float = 1e-4,  # pragma: no mutate
    epochs: int = 20,  # pragma: no mutate
) -> Descent:
    """gradient_descent with every step a replay of one captured CUDA graph"""
    g = GraphedDescent(w, b, X, y, eta=eta)  # pragma: no mutate
    for _ in range(epochs * g.n):  # pragma: no mutate
        g.replay()  # pragma: no mutate
    torch.cuda.synchronize()  # pragma: no mutate
    return Descent(g.w.clone(), g.b.clone(), None)  # pragma: no mutate
