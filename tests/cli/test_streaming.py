"""Chunk by chunk, the verification keeps the few samples that compare.py's rows say decide them (Row.deciding),
and still gives compare.py's rows over the whole file.

Chunks here are multiples of 64 samples, as the CLI's are: torch's vectorised CPU kernels round a sample's value
the same way wherever it sits in such a chunk, so the whole file and its chunks see the same numbers.
"""

import math
import subprocess
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from backprop_manual.cli.streaming import StreamedVerification
from backprop_manual.neuron import local_derivatives
from backprop_manual.neuron.data import Chunk
from backprop_manual.neuron.passes import CHAIN, Gradients
from backprop_manual.neuron_check.verify import compare_chain, verify_gradients
from tests.cli.test_main import run_on_a_terminal, run_python

pytestmark = pytest.mark.wide_dtypes(
    "the lesson's neuron: backprop-manual runs it in float32 and float64 alone, its rounding bound an analysis of those"
)

N, CHUNK = 4096, 256
RNG = np.random.default_rng(5)
X = np.round(RNG.uniform(0.1, 2.5, N), 3)  # the cell data's range of mean_area
Y = RNG.integers(0, 2, N).astype("float64")
SLIGHTLY, CLEARLY = 700, 3000  # positions of samples given a wrong dz/dw
X[SLIGHTLY], X[CLEARLY] = 1.23456, 2.34567  # values no other sample has
ULP_OVER = {torch.float32: 1e-6, torch.float64: 1e-9}  # over the 8-ULP budget, inside assert_close's tolerance


def wrong_dz_dw(slightly: float, clearly: float):
    """dz/dw = x, off by a relative `slightly` at sample SLIGHTLY and `clearly` at sample CLEARLY."""

    def delta_z_delta_w(x):
        return torch.where(x == X[SLIGHTLY], x * (1 + slightly), torch.where(x == X[CLEARLY], x * (1 + clearly), x))

    return delta_z_delta_w


def both_ways(device, dtype, chunk=CHUNK):
    w, b = (torch.tensor(p, dtype=dtype, device=device) for p in (2.0, -2.0))
    whole = verify_gradients(
        w, b, torch.tensor(X, dtype=dtype, device=device), torch.tensor(Y, dtype=dtype, device=device)
    )
    streamed = StreamedVerification(w, b)
    for start in range(0, N, chunk):
        streamed.add(
            Chunk(start, X[start : start + chunk], Y[start : start + chunk], list(range(start, start + chunk)))
        )
    return whole, streamed


def rows_in_file_positions(streamed: StreamedVerification) -> list[str]:
    v = streamed.verification()
    return [repr({**asdict(r), "at": streamed.positions[r.at]}) for r in v.report.rows]  # repr: nan == nan


@pytest.mark.parametrize(
    "slightly, clearly",
    [
        pytest.param(0.0, 0.0, id="all-agree"),
        pytest.param("ulp", 0.0, id="over-the-ulp-budget-only"),
        pytest.param("ulp", 1e-2, id="out-of-tolerance-after-an-earlier-ulp-excess"),
        pytest.param(float("nan"), 0.0, id="a-nan"),
    ],
)
def test_chunked_rows_are_compare_chain_over_the_whole_file(monkeypatch, device, dtype, slightly, clearly):
    slightly = ULP_OVER[dtype] if slightly == "ulp" else slightly
    monkeypatch.setattr(local_derivatives, "delta_z_delta_w", wrong_dz_dw(slightly, clearly))
    whole, streamed = both_ways(device, dtype)
    assert rows_in_file_positions(streamed) == [repr(asdict(r)) for r in whole.report.rows]
    assert streamed.samples == N and streamed.verification().ok == whole.ok == (slightly == clearly == 0)


def test_the_cases_above_test_what_they_say(monkeypatch):
    """The wrong dz/dw of each case puts the file's `at` where the case's name says, in float64."""
    monkeypatch.setattr(local_derivatives, "delta_z_delta_w", wrong_dz_dw(1e-9, 0.0))
    dJ_dw = both_ways("cpu", torch.float64)[0].report.rows[2]
    assert (dJ_dw.at, dJ_dw.close, dJ_dw.ok) == (SLIGHTLY, True, False)
    monkeypatch.setattr(local_derivatives, "delta_z_delta_w", wrong_dz_dw(1e-9, 1e-2))
    dJ_dw = both_ways("cpu", torch.float64)[0].report.rows[2]
    assert (dJ_dw.at, dJ_dw.close) == (SLIGHTLY, False), "one rule: the first sample over its allowance is shown"


def test_only_a_few_samples_are_kept(dtype):
    _, streamed = both_ways("cpu", dtype, chunk=64)
    assert len(streamed.positions) <= 4 * 5, "at most 5 deciding samples per intermediate (compare.py)"
    assert streamed.positions == sorted(streamed.positions)


def test_the_streamed_verification_carries_the_kept_samples_gradients_of_both_sides(dtype):
    whole, streamed = both_ways("cpu", dtype, chunk=64)
    v, at = streamed.verification(), streamed.positions
    assert torch.equal(v.X, whole.X[at]) and torch.equal(v.y, whole.y[at]) and v.ids == at
    for name in CHAIN:
        for side in ("manual", "autograd"):
            kept, every = getattr(getattr(v, side), name), getattr(getattr(whole, side), name)
            assert torch.equal(kept, every[at]), (side, name)


def test_the_printed_table_names_the_files_samples(monkeypatch):
    monkeypatch.setattr(local_derivatives, "delta_z_delta_w", wrong_dz_dw(0.0, 1e-2))
    _, streamed = both_ways("cpu", torch.float64)
    message = streamed.verification().message()
    assert message.startswith(f"delta_J_delta_w (dJ/dw) is the first intermediate to diverge, at sample {CLEARLY} ")
    assert f"x = mean_area = {X[CLEARLY]:.6g}" in message


def made_up(seed: int, dtype: torch.dtype, regime: str, n: int = 2048) -> tuple[Gradients, Gradients]:
    """Autograd values of every magnitude, a few zeros among them, and manual ones off by the regime's errors."""
    g = torch.Generator().manual_seed(seed)

    def uniform(low: float, high: float) -> torch.Tensor:  # [n] float64
        return low + (high - low) * torch.rand(n, generator=g, dtype=torch.float64)

    decades = 30 if dtype == torch.float64 else 15
    manual, autograd = [], []
    for _ in CHAIN:
        sign = torch.where(uniform(0, 1) < 0.5, -1.0, 1.0)
        a = torch.where(uniform(0, 1) < 0.02, 0.0, sign * 10 ** uniform(-decades, decades)).to(dtype)
        if regime == "within-a-few-ulps":
            m = a.clone()
            for _ in range(3):  # each sample 0 to 3 representable values away
                m = torch.where(uniform(0, 1) < 0.5, torch.nextafter(m, torch.full_like(m, math.inf)), m)
        else:  # relative errors over many decades, up to 1e-4, or for "over-the-budget" up to just inside rtol
            top = -4 if regime == "out-of-tolerance" else {torch.float32: -6, torch.float64: -7.3}[dtype]
            m = (a.double() * (1 + 10 ** uniform(-16, top))).to(dtype)
        manual.append(m)
        autograd.append(a)
    return Gradients(*manual), Gradients(*autograd)


@pytest.mark.parametrize("regime", ["within-a-few-ulps", "over-the-budget", "out-of-tolerance"])
@pytest.mark.parametrize("seed", [pytest.param(s, id=f"seed{s}") for s in range(5)])
def test_made_up_values_chunked_give_the_whole_files_rows(dtype, regime, seed):
    """Every reduction of compare_intermediate has its own deciding sample here: none is covered by another's."""
    manual, autograd = made_up(seed, dtype, regime)
    n = manual[0].numel()
    streamed = StreamedVerification(torch.tensor(2.0, dtype=dtype), torch.tensor(-2.0, dtype=dtype))
    for start in range(0, n, CHUNK):
        part = slice(start, start + CHUNK)
        ids = list(range(start, min(n, start + CHUNK)))
        streamed.keep(
            start,
            ids,
            torch.zeros(len(ids), dtype=dtype),
            torch.zeros(len(ids), dtype=dtype),
            Gradients(*(t[part] for t in manual)),
            Gradients(*(t[part] for t in autograd)),
        )
    whole = compare_chain(manual, autograd)
    assert rows_in_file_positions(streamed) == [repr(asdict(r)) for r in whole.rows]
    assert {r.ok for r in whole.rows} == {regime == "within-a-few-ulps"}


# ----------------------------------------
# A CSV of 300,000 rows (three chunks of at most 131,072) verifies with a progress bar on a terminal, in bounded
# memory: its run's peak RSS is less than 50 MB over a run's on 10,000 rows. Measured: 344 MB both (and for a
# million rows, docs/benchmarks.md: 343-348 MiB); read and verified whole instead (chunks of a million rows), the
# 300,000 rows add ~95-110 MB. The files are written into tmp_path, never committed; the trajectory trains on the
# first 1000 rows only (--trajectory-samples). Two processes, not one: run one after the other in one process
# (2026-12-07), the 300,000 rows' peak is 41 MB over the 10,000's chunked and 82 MB read whole, too close to each
# other to tell apart across machines; in processes of their own, 0 against ~100 MB.

PEAK = """
import resource, sys
from backprop_manual.cli.main import main
code = main(sys.argv[1:])
print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")
sys.exit(code)
"""
ROWS = 300_000


def write_rows(path: Path, n: int) -> Path:
    lines = (f"{i},{0.1 + (i * 7919 % 2400) / 1000:.3f},{i * 104729 % 7 % 2}" for i in range(n))
    path.write_text(",mean_area,is_cancerous\n" + "\n".join(lines) + "\n")
    return path


def peak_mb(stdout: str) -> int:
    return int(stdout.rsplit("peak RSS ", 1)[1].split()[0])


@pytest.mark.heavy
def test_rows_past_a_chunk_verify_with_a_progress_bar_in_bounded_memory(tmp_path):
    args = ("verify", "--device", "cpu", "--epochs", "1")
    big = write_rows(tmp_path / "big.csv", ROWS)
    code, out, terminal = run_on_a_terminal("-c", PEAK, *args, "--data", str(big))
    assert code == 0, out + terminal
    for dtype in ("float32", "float64"):
        assert f"cpu {dtype}: {ROWS} samples" in out
    assert out.count(f"trajectory on the first 1000 of the {ROWS} samples (--trajectory-samples)") == 2
    assert out.count("trajectory, 1000 steps") == 2 and "\nall agree\npeak RSS" in out
    assert "verifying gradients" in terminal and "/300k" in terminal, "the bar, counting to the file's rows"

    small = write_rows(tmp_path / "small.csv", 10_000)
    run = run_python("-c", PEAK, *args, "--data", str(small), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert run.returncode == 0, run.stderr.decode()
    assert peak_mb(out) - peak_mb(run.stdout.decode()) < 50, f"{ROWS} rows: {peak_mb(out)} MB, 10,000: {run.stdout}"
