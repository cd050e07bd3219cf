"""The manual step captured once in a CUDA graph and replayed per sample: the documented remedy for launch overhead.

An eager CUDA step launches ~10 tiny kernels, each costing more to launch than to run. The graph holds the whole
step, including picking sample i from X and advancing i, so a replay is one launch and needs no host-side copy.
"""

import torch

from backprop_manual.inputs import check_neuron_inputs
from backprop_manual.loop import Descent, manual_step


class GraphedDescent:
    """w, b on the GPU, updated in place by `replay()`: one manual_step on sample i, then i <- (i + 1) mod N."""

    def __init__(self, w: torch.Tensor, b: torch.Tensor, X: torch.Tensor, y: torch.Tensor, *, eta: float = 1e-4):
        check_neuron_inputs(w, b, X, y)
        if X.device.type != "cuda":
            raise ValueError(f"CUDA graphs need CUDA tensors; X is on {X.device}")
        self.w, self.b = w.detach().clone(), b.detach().clone()
        self.X, self.y = X, y.to(X.dtype)
        self.i = torch.zeros(1, dtype=torch.long, device=X.device)  # index_select, not X[i]: no host sync
        self.n = X.shape[0]
        self.one = torch.ones_like(self.w)
        start = (self.w.clone(), self.b.clone())
        side = torch.cuda.Stream()  # warm up on a side stream before capture, as torch.cuda.graphs documents
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.inference_mode():
            self._step(eta)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph), torch.inference_mode():
            self._step(eta)
        self.reset(*start)

    def _step(self, eta: float) -> None:
        x, y = (t.index_select(0, self.i).squeeze(0) for t in (self.X, self.y))
        manual_step(self.w, self.b, x, y, eta, self.one)
        self.i.add_(1).remainder_(self.n)

    def reset(self, w: torch.Tensor, b: torch.Tensor) -> None:
        self.w.copy_(w)
        self.b.copy_(b)
        self.i.zero_()

    def replay(self) -> None:
        self.graph.replay()


def graphed_descent(
    w: torch.Tensor, b: torch.Tensor, X: torch.Tensor, y: torch.Tensor, *, eta: float = 1e-4, epochs: int = 20
) -> Descent:
    """gradient_descent with every step a replay of one captured CUDA graph"""
    g = GraphedDescent(w, b, X, y, eta=eta)
    for _ in range(epochs * g.n):
        g.replay()
    torch.cuda.synchronize()
    return Descent(g.w.clone(), g.b.clone(), None)
