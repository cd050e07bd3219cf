"""How a training step of the hidden layer (derivations/hidden.py: d -> H -> 1, tanh, sigmoid, BCE) grows with the
width H and the batch N, three ways, per device, in float32:

    manual    hidden.step: hidden.forward up to sigma, then hidden.backward's chain rule op for op, in place, then
              p -= lr dJ/dp (under torch.inference_mode; bit for bit as forward + backward: tests/derivations)
    autograd  loss.backward() on torch's own ops (the oracle), then torch.optim.SGD's step
    func      torch.func.grad of the same loss, then p -= lr dJ/dp

Run:    pytest benchmarks/test_bench_sweep.py -p no:randomly --benchmark-json=sweep.json
        python -m benchmarks.bench_report sweep.json --figure sweep.png
-p no:randomly keeps the three variants of a size back to back, so that they see the same load. On a machine whose
cores are shared with other jobs, run OMP_NUM_THREADS=1 pytest ... --benchmark-timer=time.process_time: an op split
over two threads waits for the one the scheduler has parked (medians measured here came out near multiples of 8 ms
at any size), and the process's CPU time leaves out the time the other jobs were given (docs/benchmarks.md).
Each case first checks that its step updates the four parameters as autograd's does (assert_close, float32
defaults), then times the step. Every CUDA step ends with torch.cuda.synchronize(), or it would time the launch.
The autograd side is the loss a torch user writes (F.binary_cross_entropy_with_logits); the manual side computes no J,
which its update never reads (it needs only dJ/dz2 = (sigma - y)/N), and no gradient of sigma, which is 0.
"""

import pytest
import torch
import torch.nn.functional as F

from backprop_manual.derivations import hidden
from benchmarks.bench_report import SWEEP, SWEEP_VARIANTS

DTYPE = torch.float32
D = 30  # the WDBC features
WIDTHS = (1, 4, 16, 64, 256, 1024, 4096)
BATCHES = (1, 32, 569, 8192)
NAMES = ("W1", "b1", "W2", "b2")  # hidden.forward's argument order
LR = hidden.LR


def point(N, H, device, *, seed=0):
    """hidden.example's conventions at any size: W ~ N(0, 1/fan_in), b1 ~ N(0, 0.01), b2 = 0; X ~ N(0, 1) (the
    features are z-scored), y in {0, 1}, [N, 1] as z2; drawn in float64 by a seeded generator, rounded to float32."""
    g = torch.Generator().manual_seed(seed)
    params = hidden.initial(D, H, g)
    X = torch.randn(N, D, generator=g, dtype=torch.float64)
    y = torch.randint(0, 2, (N, 1), generator=g, dtype=torch.float64)
    return {k: v.to(DTYPE).to(device) for k, v in params.items()}, X.to(DTYPE).to(device), y.to(DTYPE).to(device)


def loss(W1, b1, W2, b2, X, y):
    """J = mean BCE(sigmoid(tanh(X W1 + b1) W2 + b2), y), from torch's own ops: independent of hidden.py"""
    return F.binary_cross_entropy_with_logits(torch.tanh(X @ W1 + b1) @ W2 + b2, y)


# Each maker takes parameters of its own and returns the step that trains them in place.


def manual_step(params, X, y):
    ps = [params[k] for k in NAMES]

    def step():
        hidden.step(*ps, X, y, lr=LR)

    return step


def autograd_step(params, X, y):
    ps = [params[k].requires_grad_(True) for k in NAMES]
    opt = torch.optim.SGD(ps, lr=LR)

    def step():
        opt.zero_grad()
        loss(*ps, X, y).backward()
        opt.step()

    return step


def func_step(params, X, y):
    ps = [params[k] for k in NAMES]
    grad = torch.func.grad(loss, argnums=(0, 1, 2, 3))

    def step():
        grads = grad(*ps, X, y)
        with torch.no_grad():
            torch._foreach_add_(ps, list(grads), alpha=-LR)

    return step


STEPS = {"manual": manual_step, "autograd": autograd_step, "func": func_step}
assert STEPS.keys() == SWEEP_VARIANTS.keys(), "bench_report's labels name these variants"

# the variant innermost, so that with -p no:randomly a size's three variants run one after the other
CASES = [pytest.param(variant, N, H, id=f"{variant}-N{N}-H{H}") for N in BATCHES for H in WIDTHS for variant in STEPS]


@pytest.mark.parametrize("variant, N, H", CASES)
def test_step(benchmark, device, variant, N, H):
    params, X, y = point(N, H, device)
    expected = {k: v.clone() for k, v in params.items()}
    autograd_step(expected, X, y)()
    mine = {k: v.clone() for k, v in params.items()}
    step = STEPS[variant](mine, X, y)
    step()
    for name in NAMES:  # all four, in the order the update writes them: a failure names its parameter
        where = f"{variant} step, N={N}, H={H}: {name} after one step differs from autograd's"
        torch.testing.assert_close(
            mine[name].detach(), expected[name].detach(), msg=lambda m, where=where: f"{where}: {m}"
        )

    benchmark.group = f"sweep-{device}-N{N}"
    benchmark.extra_info.update(sweep=SWEEP, device=device, variant=variant, N=N, H=H, d=D, dtype="float32")
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def timed():
        sync()  # nothing queued before the clock starts
        step()
        sync()

    benchmark(timed)
