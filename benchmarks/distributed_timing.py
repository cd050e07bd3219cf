"""One distributed verification against the same check in one process (docs/benchmarks.md, "Distributed").

    python -m benchmarks.distributed_timing [REPEATS]
The tensor-parallel MLP with its sharded backward by hand (tp-mlp-by-hand) on 2 and 4 gloo ranks, against
verify_chain on the unsharded MLP with the same backward written for one process. Wall-clock medians; the first
distributed run of a process is reported apart (it starts the forkserver, which imports torch).
"""

import os
import statistics
import sys
import time

import torch

from backprop_manual.check import verify_chain
from backprop_manual.distributed import verify_distributed
from backprop_manual.distributed.derivations import tp_mlp


def one_process_backward(fwd, x, W1, b1, W2, b2, y):
    """tp_mlp.backward on one rank: every all-reduce is the identity"""
    d_o = 2 * (fwd["o"] - y) / y.numel()
    d_a = d_o @ W2
    d_h = (1 - fwd["a"] ** 2) * d_a
    return {
        "o": d_o,
        "W2": d_o.T @ fwd["a"],
        "b2": d_o.sum(0),
        "a": d_a,
        "h": d_h,
        "W1": d_h.T @ x,
        "b1": d_h.sum(0),
        "x": d_h @ W1,
    }


def seconds(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main(repeats: int) -> None:
    print(f"torch {torch.__version__}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start")
    forward, params, inputs = tp_mlp.reference()
    one = seconds(lambda: verify_chain(forward, one_process_backward, params, inputs).assert_ok(), repeats)
    print(f"one process, verify_chain: median {statistics.median(one) * 1e3:.1f} ms of {repeats}")
    cold = seconds(lambda: verify_distributed(tp_mlp.reference, tp_mlp.sharded_by_hand, tp_mlp.layouts, 2), 1)
    print(f"world size 2, the process's first distributed run (it starts the forkserver): {cold[0]:.2f} s")
    for world in (2, 4):
        runs = seconds(
            lambda w=world: verify_distributed(tp_mlp.reference, tp_mlp.sharded_by_hand, tp_mlp.layouts, w).assert_ok(),
            repeats,
        )
        print(
            f"world size {world}: median {statistics.median(runs):.3f} s of {repeats} (min {min(runs):.3f}, max "
            f"{max(runs):.3f}), {statistics.median(runs) / statistics.median(one):.0f}x one process"
        )
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
