"""SLOW, ~15 s: a CSV of a million rows verifies, with a progress bar on a terminal, in bounded memory.

The files are written into tmp_path (15 MB), never committed. Peak memory is compared with a run on 10,000 rows:
the rows are read and verified 131,072 at a time, and the trajectory trains on the first 1000 rows only
(--trajectory-samples), so the million costs little more (measured: 355 MB against 340 MB). Read and verified
whole, the same file peaks at 701 MB.
"""

import os
import subprocess
import sys
from pathlib import Path

from test_cli import ROOT, run_on_a_terminal

PEAK = """
import resource, sys
from backprop_manual.cli import main
code = main(sys.argv[1:])
print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")
sys.exit(code)
"""


def write_rows(path: Path, n: int) -> Path:
    lines = (f"{i},{0.1 + (i * 7919 % 2400) / 1000:.3f},{i * 104729 % 7 % 2}" for i in range(n))
    path.write_text(",mean_area,is_cancerous\n" + "\n".join(lines) + "\n")
    return path


def peak_mb(stdout: str) -> int:
    return int(stdout.rsplit("peak RSS ", 1)[1].split()[0])


def test_a_million_rows_verify_with_a_progress_bar_in_bounded_memory(tmp_path, monkeypatch):
    # One thread: OpenMP threads that spin while another job holds the cores made this run 10x slower (measured).
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    args = ("verify", "--device", "cpu", "--epochs", "2")
    million = write_rows(tmp_path / "million.csv", 1_000_000)
    code, out, terminal = run_on_a_terminal("-c", PEAK, *args, "--data", str(million))
    assert code == 0, out + terminal
    for dtype in ("float32", "float64"):
        assert f"cpu {dtype}: 1000000 samples" in out
    assert out.count("trajectory on the first 1000 of the 1000000 samples (--trajectory-samples)") == 2
    assert out.count("trajectory, 2000 steps") == 2 and "\nall agree\npeak RSS" in out
    assert "verifying gradients" in terminal and "/1.00M" in terminal, "the bar, counting to a million rows"

    small = write_rows(tmp_path / "small.csv", 10_000)
    run = subprocess.run(
        [sys.executable, "-c", PEAK, *args, "--data", str(small)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert run.returncode == 0, run.stderr
    assert peak_mb(out) - peak_mb(run.stdout) < 120, f"1M rows: {peak_mb(out)} MB, 10k rows: {peak_mb(run.stdout)} MB"
