"""What verify and train print, line for line, and the verdict's context: each piece from the computation it reports.

The tables and summaries are formatted by verify.py and trajectory.py (tested in test_report_format.py and
test_trajectory.py); here the commands must put the right ones, computed on the right data, in the right place.
"""

import functools
import io
import json
import sys
from dataclasses import replace

import pandas as pd
import pytest
import torch

from backprop_manual import commands, csv_input, gradient_descent, local_derivatives, nn_sgd_descent, plot
from backprop_manual.cli import main
from backprop_manual.trajectory import compare_trajectories
from backprop_manual.verify import verify_gradients

AREA, LABEL = [1.0, 0.5, 1.5, 0.2, 0.9], [1, 0, 1, 0, 1]
ROWS = len(AREA)
START = ["--w0", "1.5", "--b0", "-0.5", "--lr", "0.01", "--epochs", "2"]
NOT_AVAILABLE = "cuda: not available on this machine (torch.cuda.is_available() is False): not verified"


@pytest.fixture
def csv(tmp_path):
    path = tmp_path / "mine.csv"
    pd.DataFrame({"area": AREA, "label": LABEL}).to_csv(path, index=False)
    return path


def tensors(dtype, n=ROWS):
    X, y = torch.tensor(AREA[:n], dtype=dtype), torch.tensor(LABEL[:n], dtype=dtype)
    return torch.tensor(1.5, dtype=dtype), torch.tensor(-0.5, dtype=dtype), X, y


def both_loops(dtype, n=ROWS):
    w, b, X, y = tensors(dtype, n)
    return [d(w, b, X, y, eta=0.01, epochs=2, trajectory=True) for d in (gradient_descent, nn_sgd_descent)]


@pytest.mark.parametrize("chunk_rows", [csv_input.CHUNK_ROWS, 2], ids=["one-chunk", "chunks-of-2"])
def test_verify_prints_the_header_each_runs_table_and_trajectory_and_the_verdict(csv, capsys, monkeypatch, chunk_rows):
    """Read in chunks of 2 rows, the output is the same: the whole file's tables, the trajectory on its first 3 rows."""
    monkeypatch.setattr(commands.csv_input, "chunks", functools.partial(csv_input.chunks, chunk_rows=chunk_rows))
    argv = ["verify", "--data", str(csv), "--feature", "area", "--target", "label", *START]
    assert main([*argv, "--device", "cpu", "--dtype", "all", "--trajectory-samples", "3"]) == 0
    expected = [
        f"backprop_manual: hand-derived gradients vs autograd, {csv} (area -> label), w = 1.5, b = -0.5; "
        "trajectory: 2 epochs, eta = 0.01, manual loop vs torch.nn + MSELoss + optim.SGD"
    ]
    for name, dtype in (("float32", torch.float32), ("float64", torch.float64)):
        manual, reference = both_loops(dtype, n=3)
        expected += [
            "",
            f"cpu {name}: 5 samples",
            verify_gradients(*tensors(dtype), ids=list(range(5))).table(),
            "  trajectory on the first 3 of the 5 samples (--trajectory-samples)",
            f"  {compare_trajectories(manual.trajectory, reference.trajectory).summary()}",
        ]
    assert capsys.readouterr().out == "\n".join([*expected, "", "all agree", ""])


def test_verify_prints_the_failure_message_and_says_mismatch(csv, capsys, monkeypatch):
    monkeypatch.setattr(local_derivatives, "delta_sigma_delta_z", lambda z, sigma=None: torch.sigmoid(z))
    argv = ["verify", "--data", str(csv), "--feature", "area", "--target", "label", *START, "--device", "cpu"]
    assert main([*argv, "--dtype", "float64"]) == 1
    out = capsys.readouterr().out
    verification = replace(
        verify_gradients(*tensors(torch.float64), ids=list(range(5))), feature="area", target="label"
    )
    assert "(x = area = " in verification.message() and ", y = label = " in verification.message(), "the CSV's names"
    assert not verification.ok and f"\ncpu float64: 5 samples\n{verification.message()}\n" in out
    assert out.endswith("\nMISMATCH: see the tables above\n")


def test_verify_on_every_device_says_which_are_missing_in_the_output_and_the_verdict(csv, tmp_path, capsys):
    """No --device: every available one, and CUDA, if absent, said to be not verified (an explicit all needs it)."""
    verdict = tmp_path / "verdict.json"
    argv = ["verify", "--data", str(csv), "--feature", "area", "--target", "label", *START, "--dtype", "float64"]
    assert main([*argv, "--json", str(verdict), "--trajectory-samples", "4"]) == 0
    out = capsys.readouterr().out
    document = json.loads(verdict.read_text())
    missing = [] if torch.cuda.is_available() else ["cuda"]
    assert (f"\n{NOT_AVAILABLE}\n" in out) == bool(missing)
    assert [(r["device"], r["dtype"]) for r in document["runs"]] == [
        (d, "float64") for d in ("cpu", "cuda") if d not in missing
    ]
    context = {k: v for k, v in document.items() if k not in ("runs", "torch")}
    assert context == {
        "schema": 2,
        "status": "ok",
        "exit_code": 0,
        "command": "backprop-manual verify",
        "data": {"path": str(csv), "feature": "area", "target": "label", "index_col": None, "samples": 5},
        "w0": 1.5,
        "b0": -0.5,
        "trajectory": {"epochs": 2, "lr": 0.01, "samples": 4},
        "devices_not_available": missing,
    }
    assert document["torch"] == torch.__version__


def test_verify_on_one_device_lists_none_as_missing(csv, tmp_path, capsys):
    verdict = tmp_path / "verdict.json"
    argv = ["verify", "--data", str(csv), "--feature", "area", "--target", "label", "--epochs", "1"]
    assert main([*argv, "--device", "cpu", "--dtype", "float32", "--json", str(verdict)]) == 0
    out = capsys.readouterr().out
    assert NOT_AVAILABLE not in out
    assert "trajectory on the first" not in out, "all 5 rows trained on (default: the first 1000)"
    assert json.loads(verdict.read_text())["devices_not_available"] == []


def test_train_prints_the_setting_both_loops_final_values_and_the_comparison(csv, capsys):
    argv = ["train", "--data", str(csv), "--feature", "area", "--target", "label", *START, "--device", "cpu"]
    assert main([*argv, "--dtype", "float32"]) == 0
    lines = capsys.readouterr().out.splitlines()
    manual, reference = both_loops(torch.float32)
    report = compare_trajectories(manual.trajectory, reference.trajectory)
    assert lines[:3] == [
        f"backprop-manual train: {csv} (area -> label), 5 samples, 2 epochs, eta = 0.01, from w = 1.5, b = -0.5, "
        "on cpu in float32",
        "",
        "  loop                                             final w             final b   J, last epoch",
    ]
    for line, label, d in zip(
        lines[3:5],
        ("manual (hand-derived gradients)", "torch.nn + MSELoss + SGD (autograd)"),
        (manual, reference),
        strict=True,
    ):
        assert line.startswith(f"  {label} ") and len(line) == 2 + 36 + 20 + 20 + 16, (
            "columns end where the header's do"
        )
        J = float(d.trajectory[-1, :, 2].mean())
        assert line[2 + 36 :].split() == [f"{float(d.w):.12g}", f"{float(d.b):.12g}", f"{J:.8g}"]
    largest = ", ".join(f"{p} {v:.3e}" for p, v in report.max_abs.items())
    assert lines[5:] == [
        "",
        f"  largest step-wise |manual - autograd| over 10 steps: {largest}",
        f"  {report.summary()}",
    ]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_verify_counts_the_files_rows_then_the_trajectorys_steps_on_progress_bars(csv, capsys, monkeypatch):
    monkeypatch.setattr("sys.stderr", Terminal())
    monkeypatch.setattr(commands.csv_input, "chunks", functools.partial(csv_input.chunks, chunk_rows=2))
    argv = ["verify", "--data", str(csv), "--feature", "area", "--target", "label", "--epochs", "1"]
    assert main([*argv, "--device", "cpu", "--dtype", "float64"]) == 0
    drawn = sys.stderr.getvalue().split("\r")
    reading = [line for line in drawn if line.startswith("verifying")]
    assert reading[0].startswith("verifying gradients:   0%|") and reading[0].endswith(
        "| 0.00/5.00 [00:00<?, ? rows/s]"
    )
    assert any(line.startswith("trajectory cpu float64:   0%|") for line in drawn), "then the trajectory's bar"


def test_train_titles_its_figure_with_the_run(csv, capsys, monkeypatch, tmp_path):
    pytest.importorskip("matplotlib", reason="the figure needs the extra plot: pip install -e '.[plot]'")
    titles = []
    real = plot.plot_training
    monkeypatch.setattr(
        plot, "plot_training", lambda path, run, *, title: titles.append(title) or real(path, run, title=title)
    )
    argv = ["train", "--data", str(csv), "--feature", "area", "--target", "label", *START, "--device", "cpu"]
    assert main([*argv, "--dtype", "float32", "--plot", str(tmp_path / "figure.PNG")]) == 0
    assert titles == ["mine.csv: 5 samples, 2 epochs, eta = 0.01, cpu float32"]


def test_train_refuses_a_figure_format_matplotlib_cannot_write_and_lists_those_it_can(csv, capsys, tmp_path):
    pytest.importorskip("matplotlib", reason="the figure needs the extra plot: pip install -e '.[plot]'")
    path = tmp_path / "figure.xyz"
    assert main(["train", "--data", str(csv), "--feature", "area", "--target", "label", "--plot", str(path)]) == 2
    formats = ", ".join(plot.supported_formats())
    assert f"--plot {path}: matplotlib writes {formats}; use .png" in capsys.readouterr().err
    assert "png" in formats.split(", ") and not path.exists()
