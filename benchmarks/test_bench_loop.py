"""Timing of the per-sample loop, per device: the manual step (the hand-derived passes) against the same chain rule
fused into 10 ops, autograd, torch.nn + SGD, the lesson's loop as written, the vectorized per-sample gradients (and
one vectorized forward pass, what they are set against) and the two floors: the loop in plain Python floats and
compiled to machine code by numba (skipped, saying how to install it, where the extra numba is not installed).

Run:    pytest benchmarks --benchmark-json=bench.json && python -m benchmarks.bench_report bench.json
Each benchmark records in extra_info what the report needs: its group, device, variant, role and the number of
samples one call processes (so that everything is compared per sample). Every CUDA callable ends with
torch.cuda.synchronize(), or it would time the launch, not the work. Results are checked equal in tests/, not here.
"""

import numpy as np
import pytest
import torch

from backprop_manual.neuron.data import load_cell_data
from backprop_manual.neuron.lesson import lesson_loop
from backprop_manual.neuron.loop import gradient_descent
from backprop_manual.neuron.passes import backward, forward
from backprop_manual.neuron_check.trajectory import nn_sgd_descent
from backprop_manual.variants.autograd_loop import autograd_descent, autograd_step
from backprop_manual.variants.float_loop import float_descent
from backprop_manual.variants.fused_loop import fused_descent, manual_step
from backprop_manual.variants.numba_loop import INSTALL, numba_descent
from backprop_manual.variants.per_sample import autograd_per_sample, manual_per_sample, vmap_per_sample
from benchmarks.bench_report import (
    AUTOGRAD,
    FLOOR,
    FORWARD,
    GRAPH,
    LESSON,
    MACHINE_FLOOR,
    MANUAL,
    NN_SGD,
    ROLE_FLOOR,
    ROLE_FORWARD,
    ROLE_MACHINE_FLOOR,
    VECTORIZED,
)

DTYPE = torch.float64  # the lesson's dtype
ETA = 1e-4
FUSED = "manual, chain rule fused (fused_loop)"


@pytest.fixture
def data(device):
    return load_cell_data(dtype=DTYPE, device=device)


@pytest.fixture
def params(device):
    return torch.tensor(2.0, dtype=DTYPE, device=device), torch.tensor(-2.0, dtype=DTYPE, device=device)


def timed(benchmark, device, group, variant, samples, fn, role=""):
    """Benchmark fn() (synchronized on CUDA) and label it for bench_report."""
    benchmark.group = f"{group} [{device}]"
    benchmark.extra_info.update(group=group, device=device, variant=variant, samples=samples, role=role)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def call():
        result = fn()
        sync()
        return result

    return benchmark(call)


# 1. One per-sample step: forward, backward, update


def test_step_manual(benchmark, device, data, params):
    w, b = (p.clone() for p in params)
    x, y = data.X[1], data.y[1]

    def step():  # gradient_descent's step
        with torch.inference_mode():
            grads = backward(x, y, forward(w, x, b, y))
            w.add_(grads.delta_J_delta_w, alpha=-ETA)
            b.add_(grads.delta_J_delta_b, alpha=-ETA)

    timed(benchmark, device, "step", MANUAL, 1, step, role="manual")


def test_step_fused(benchmark, device, data, params):
    w, b = (p.clone() for p in params)
    x, y, one = data.X[1], data.y[1], torch.ones_like(w)

    def step():
        with torch.inference_mode():
            manual_step(w, b, x, y, ETA, one)

    timed(benchmark, device, "step", FUSED, 1, step)


def test_step_autograd(benchmark, device, data, params):
    w, b = (p.clone().requires_grad_(True) for p in params)
    x, y = data.X[1], data.y[1]
    timed(benchmark, device, "step", AUTOGRAD, 1, lambda: autograd_step(w, b, x, y, ETA))


def test_step_nn_sgd(benchmark, device, data, params):
    net = torch.nn.Sequential(torch.nn.Linear(1, 1, device=device, dtype=DTYPE), torch.nn.Sigmoid())
    criterion, opt = torch.nn.MSELoss(reduction="sum"), torch.optim.SGD(net.parameters(), lr=ETA)
    x, y = data.X[1].reshape(1, 1), data.y[1].reshape(1, 1)

    def step():
        opt.zero_grad()
        criterion(net(x), y).backward()
        opt.step()

    timed(benchmark, device, "step", NN_SGD, 1, step)


def test_step_cuda_graph(benchmark, device, data, params):
    if device != "cuda":
        pytest.skip("a CUDA graph is a CUDA-only remedy for kernel-launch overhead")
    from backprop_manual.variants.cuda_graph import GraphedDescent

    graphed = GraphedDescent(*params, data.X, data.y, eta=ETA)
    timed(benchmark, device, "step", GRAPH, 1, graphed.replay)


# 2. One epoch of the per-sample loop over all 569 samples


def test_epoch_manual(benchmark, device, data, params):
    n = len(data.ids)
    timed(
        benchmark,
        device,
        "epoch",
        MANUAL,
        n,
        lambda: gradient_descent(*params, data.X, data.y, eta=ETA, epochs=1),
        role="manual",
    )


def test_epoch_fused(benchmark, device, data, params):
    n = len(data.ids)
    timed(benchmark, device, "epoch", FUSED, n, lambda: fused_descent(*params, data.X, data.y, eta=ETA, epochs=1))


def test_epoch_autograd(benchmark, device, data, params):
    n = len(data.ids)
    timed(benchmark, device, "epoch", AUTOGRAD, n, lambda: autograd_descent(*params, data.X, data.y, eta=ETA, epochs=1))


def test_epoch_nn_sgd(benchmark, device, data, params):
    n = len(data.ids)
    timed(benchmark, device, "epoch", NN_SGD, n, lambda: nn_sgd_descent(*params, data.X, data.y, eta=ETA, epochs=1))


def test_epoch_lesson_as_written(benchmark, device, data):
    X_tensor, y_tensor = data.X.reshape(-1, 1), data.y.long()  # the lesson's [569, 1] float64 and int64 target
    timed(benchmark, device, "epoch", LESSON, len(data.ids), lambda: lesson_loop(X_tensor, y_tensor, epochs=1))


def test_epoch_cuda_graph(benchmark, device, data, params):
    if device != "cuda":
        pytest.skip("a CUDA graph is a CUDA-only remedy for kernel-launch overhead")
    from backprop_manual.variants.cuda_graph import GraphedDescent

    graphed = GraphedDescent(*params, data.X, data.y, eta=ETA)
    n = len(data.ids)

    def epoch():
        for _ in range(n):
            graphed.replay()

    timed(benchmark, device, "epoch", GRAPH, n, epoch)


# 3. All 569 per-sample gradients at once


@pytest.mark.parametrize(
    "variant, fn, role",
    [
        pytest.param(VECTORIZED, manual_per_sample, "manual", id="manual"),
        pytest.param("autograd, per-sample leaves", autograd_per_sample, "", id="autograd"),
        pytest.param("torch.func.vmap(grad)", vmap_per_sample, "", id="vmap"),
    ],
)
def test_all_gradients(benchmark, device, data, params, variant, fn, role):
    w, b = params
    timed(benchmark, device, "all gradients", variant, len(data.ids), lambda: fn(w, b, data.X, data.y), role=role)


def test_all_gradients_forward_only(benchmark, device, data, params):
    """What the vectorized gradients are set against: z = w·x + b, y_hat = sigma(z), J per sample, and nothing else."""
    w, b = params
    n = len(data.ids)
    timed(benchmark, device, "all gradients", FORWARD, n, lambda: forward(w, data.X, b, data.y), role=ROLE_FORWARD)


# 4. The floors: the same loop in plain Python floats, and compiled to machine code


def test_floor_python_floats(benchmark, device):
    if device != "cpu":
        pytest.skip("plain Python floats run on no device: the floor is measured once, under [cpu]")
    data = load_cell_data()
    X, y = data.X.tolist(), data.y.tolist()
    timed(
        benchmark,
        device,
        "floor",
        FLOOR,
        len(X),
        lambda: float_descent(2.0, -2.0, X, y, eta=ETA, epochs=1),
        role=ROLE_FLOOR,
    )


@pytest.mark.parametrize(
    "real, variant, role",
    [
        pytest.param(np.float64, MACHINE_FLOOR, ROLE_MACHINE_FLOOR, id="float64"),  # the torch variants' dtype
        pytest.param(np.float32, "numba @njit, float32", "", id="float32"),
    ],
)
def test_floor_machine_code(benchmark, device, real, variant, role):
    if device != "cpu":
        pytest.skip("numba's loop runs on the CPU: the machine floor is measured once, under [cpu]")
    pytest.importorskip("numba", reason=f"the machine floor needs the extra numba: {INSTALL}")
    data = load_cell_data()
    X, y = data.X.numpy().astype(real), data.y.numpy().astype(real)
    # the lesson's 20 epochs: in one (569 × ≈ 30 ns) the call's own ≈ 3 µs (checks, numba's dispatch) would be 15%
    epochs = 20
    numba_descent(2.0, -2.0, X, y, eta=ETA, epochs=1)  # compiled here, on the first call, not in the timing
    timed(
        benchmark,
        device,
        "floor",
        variant,
        epochs * len(X),
        lambda: numba_descent(2.0, -2.0, X, y, eta=ETA, epochs=epochs),
        role=role,
    )
