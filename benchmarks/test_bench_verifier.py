"""What verify_chain costs against the work it compares: one forward, autograd's gradient of every named tensor and
one call of the hand-written backward (verifier_cases.compared_work), timed side by side, in float32, on the CPU.

    grid     the elementwise chain (verifier_cases.chain) over numel per tensor 10 .. 10^7 × named tensors 4 .. 64,
             at most CAP elements in all per case (10^7: what this 2-core machine's benchmarks can afford; at 4 names
             that leaves out numel 10^7); the ratio verify_chain / compared work per case
    targets  LayerNorm -> Linear -> GELU at [8, 128, 256] and the backprop-ninja batch-norm MLP (26 named tensors,
             batch 32), issue 17's two targets: verify_chain within 2× and 3× of the compared work

Run:    OMP_NUM_THREADS=1 pytest benchmarks/test_bench_verifier.py -p no:randomly --benchmark-json=verifier.json
        python -m benchmarks.bench_report verifier.json --output verifier.md    # tables, verifier-verifier.png beside
-p no:randomly keeps a case's two variants back to back, so that they see the same load. Each case first checks that
verify_chain finds the backward right (a wrong one would time a false verdict). CI's smoke run
(`pytest benchmarks --benchmark-disable`, every benchmark once) runs the grid's smallest case only, and the targets:
the rest of the grid is skipped there with the reason, as it would take minutes of a run that asserts no timing.
"""

import pytest
import torch

from backprop_manual import verify_chain
from benchmarks import verifier_cases
from benchmarks.bench_report import LAYERNORM, NINJA, VERIFIER, VERIFIER_VARIANTS

NUMELS = tuple(10**k for k in range(1, 8))
NAMES = (4, 16, 64)
CAP = 10**7  # elements per case, all named tensors together
GRID = [(numel, names) for names in NAMES for numel in NUMELS if numel * names <= CAP]
SMALLEST = min(GRID, key=lambda case: case[0] * case[1])
TARGETS = {  # id: (what, the derivation at its point); bench_report's VERIFIER_TARGETS holds the bounds
    "layernorm-linear-gelu": (LAYERNORM, verifier_cases.layernorm_linear_gelu),
    "batchnorm-mlp": (NINJA, verifier_cases.batchnorm_mlp),
}


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread, as the issue's figures: on a shared 2-core machine a second thread only contends."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def timed(benchmark, variant, case, derivation, **info):
    forward, backward, params, inputs = derivation
    report = verify_chain(forward, backward, params, inputs)
    assert report.ok, report.message()  # a correct derivation at a benign point: anything else is a bug to fix first
    benchmark.group = f"verifier: {case}"
    benchmark.extra_info.update(verifier=VERIFIER, case=case, variant=variant, **info)
    if variant == "verify_chain":
        benchmark(verify_chain, forward, backward, params, inputs)
    else:
        benchmark(verifier_cases.compared_work, forward, backward, params, inputs)


# a case's two variants one after the other (-p no:randomly); by number of names, then numel
@pytest.mark.parametrize("variant", VERIFIER_VARIANTS)
@pytest.mark.parametrize("numel, names", [pytest.param(n, k, id=f"numel{n}-names{k}") for n, k in GRID])
def test_grid(benchmark, request, variant, numel, names):
    if request.config.getoption("benchmark_disable") and (numel, names) != SMALLEST:
        smallest = f"numel {SMALLEST[0]}, {SMALLEST[1]} names"
        pytest.skip(f"the smoke run (--benchmark-disable) runs the smallest case only ({smallest}): time the grid")
    derivation = verifier_cases.chain(numel, names)
    timed(benchmark, variant, f"numel {numel:.0e}, {names} names", derivation, numel=numel, names=names)


@pytest.mark.parametrize("variant", VERIFIER_VARIANTS)
@pytest.mark.parametrize("target", TARGETS)
def test_target(benchmark, variant, target):
    what, make = TARGETS[target]
    derivation = make()
    forward, _, params, inputs = derivation
    named = [t for k, t in forward(**params, **inputs).items() if k != "loss"] + list(params.values())
    timed(benchmark, variant, what, derivation, target=what, names=len(named), numel=sum(t.numel() for t in named))
