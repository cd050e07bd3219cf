"""backprop-manual verify: your own CSV, and the verdict as JSON for CI."""

import fcntl
import functools
import io
import json
import math
import os
import struct
import sys
import termios
from dataclasses import asdict, fields, replace

import pandas as pd
import pytest
import torch

from backprop_manual import nn_sgd_descent
from backprop_manual.cli import commands, plot
from backprop_manual.cli.commands import bar, side_by_side
from backprop_manual.cli.main import main
from backprop_manual.neuron import data as csv_input
from backprop_manual.neuron import gradient_descent, local_derivatives
from backprop_manual.neuron.data import CELL_DATA
from backprop_manual.neuron_check.trajectory import compare_trajectories
from backprop_manual.neuron_check.verify import Row, verify_gradients
from tests.shared import cell_data, start

pytestmark = pytest.mark.wide_dtypes(
    "the lesson's neuron: backprop-manual runs it in float32 and float64 alone, its rounding bound an analysis of those"
)

ONE_EPOCH = ["verify", "--device", "cpu", "--epochs", "1"]


def strict_json(path) -> dict:
    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_the_verdict_holds_every_row_as_verified(tmp_path, capsys):
    verdict = tmp_path / "verdict.json"
    assert main([*ONE_EPOCH, "--json", str(verdict)]) == 0
    document = strict_json(verdict)
    assert (document["schema"], document["status"], document["exit_code"]) == (4, "ok", 0)
    assert document["data"] == {
        "path": str(CELL_DATA),
        "feature": "mean_area",
        "target": "is_cancerous",
        "index_col": None,  # the first column, its header cell empty: the index, by pandas' convention
        "samples": 569,
    }
    assert [(r["device"], r["dtype"]) for r in document["runs"]] == [("cpu", "float32"), ("cpu", "float64")]
    for run, dtype in zip(document["runs"], (torch.float32, torch.float64), strict=True):
        data, (w, b) = cell_data(dtype), start(dtype)
        expected = verify_gradients(w, b, data.X, data.y, ids=data.ids).report.rows
        for row, r in zip(run["intermediates"], expected, strict=True):
            as_null = {
                k: None if v == math.inf else v for k, v in asdict(r).items() if k not in ("at", "index", "deciding")
            }
            assert {k: row[k] for k in as_null} == as_null, r.name  # JSON has no inf: null
            # the bundled file's index is its row number: the id and the position agree here
            assert (row["status"], row["symbol"], row["position"], row["sample_id"]) == ("ok", r.symbol, r.at, r.at)
        assert (run["status"], run["first_divergent_intermediate"]) == ("ok", None)
        assert run["trajectory"] == {
            "status": "ok",
            "steps": 569,
            "max_abs_diff": {"w": 0.0, "b": 0.0},
            "first_divergence": None,
            "overflow": None,
        }


def test_rows_are_serialised_generically(tmp_path, capsys):
    """Every field of compare.Row is in the verdict, whatever fields Row has: none is listed by hand."""
    verdict = tmp_path / "verdict.json"
    assert main([*ONE_EPOCH, "--dtype", "float64", "--json", str(verdict)]) == 0
    (run,) = strict_json(verdict)["runs"]
    for row in run["intermediates"]:
        assert set(row) == {f.name for f in fields(Row)} - {"at", "index", "deciding"} | {"position", "sample_id"}
    assert run["intermediates"][0]["headroom"] is None, "dJ/dσ agrees exactly: infinite headroom, null"


def test_a_mismatch_in_the_verdict(monkeypatch, tmp_path, capsys):
    # one wrong derivative, and both the gradient table and the trajectory see it: the loop runs the derivation
    monkeypatch.setattr(local_derivatives, "delta_sigma_delta_z", lambda z, sigma=None: torch.sigmoid(z))
    verdict = tmp_path / "verdict.json"
    assert main([*ONE_EPOCH, "--dtype", "float32", "--json", str(verdict)]) == 1
    document = strict_json(verdict)
    assert (document["status"], document["exit_code"]) == ("MISMATCH", 1)
    (run,) = document["runs"]
    assert (run["status"], run["first_divergent_intermediate"]) == ("MISMATCH", "delta_J_delta_z")
    assert [r["status"] for r in run["intermediates"]] == ["ok", "MISMATCH", "MISMATCH", "MISMATCH"]
    assert run["intermediates"][1]["position"] == 0 and run["intermediates"][1]["abs_diff"] > 0.25
    assert run["trajectory"]["status"] == "MISMATCH"
    first = run["trajectory"]["first_divergence"]
    assert (first["epoch"], first["position"], first["parameter"], first["sample_id"]) == (0, 0, "w", 0)
    assert abs(first["manual"] - first["autograd"]) > first["allowance"]


def test_your_own_csv_without_an_index_column(tmp_path, capsys):
    path = tmp_path / "mine.csv"
    pd.DataFrame({"area": [0.5, 1.5, 2.5, 0.8], "label": [0, 1, 1, 0], "note": list("abcd")}).to_csv(path, index=False)
    verdict = tmp_path / "verdict.json"
    argv = [*ONE_EPOCH, "--data", str(path), "--feature", "area", "--target", "label", "--json", str(verdict)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"{path} (area -> label)" in out and "cpu float64: 4 samples" in out
    (run, _) = strict_json(verdict)["runs"]
    assert {r["sample_id"] for r in run["intermediates"]} <= {0, 1, 2, 3}, "rows numbered from 0"
    assert run["trajectory"]["steps"] == 4


@pytest.mark.parametrize(
    "option, trained",
    [pytest.param([], 1000, id="default-first-1000"), pytest.param(["--trajectory-samples", "all"], 1500, id="all")],
)
def test_the_trajectory_trains_on_the_first_rows(tmp_path, capsys, option, trained):
    path = tmp_path / "longer.csv"
    pd.DataFrame(
        {"mean_area": [1 + (i % 50) / 25 for i in range(1500)], "is_cancerous": [i % 2 for i in range(1500)]}
    ).to_csv(path)
    verdict = tmp_path / "verdict.json"
    assert main([*ONE_EPOCH, "--dtype", "float64", "--data", str(path), "--json", str(verdict), *option]) == 0
    out = capsys.readouterr().out
    assert "cpu float64: 1500 samples" in out and f"trajectory, {trained} steps" in out
    assert ("trajectory on the first 1000 of the 1500 samples (--trajectory-samples)" in out) == (trained == 1000)
    document = strict_json(verdict)
    assert document["trajectory"] == {"epochs": 1, "lr": 1e-4, "samples": trained}
    assert document["runs"][0]["samples"] == 1500


# ----------------------------------------
# backprop-manual train: both loops side by side, their final w, b, J, the largest step-wise difference, a figure.

NEEDS_PLOT = "the figure needs the extra plot: pip install -e '.[plot]'"


def test_train_prints_each_loops_final_w_b_and_J(capsys):
    assert main(["train", "--epochs", "2", "--dtype", "float32"]) == 0
    out = capsys.readouterr().out
    data, (w, b) = cell_data(torch.float32), start(torch.float32)
    for label, descent in (("manual (hand-derived gradients)", gradient_descent), ("torch.nn", nn_sgd_descent)):
        d = descent(w, b, data.X, data.y, eta=1e-4, epochs=2, trajectory=True)
        line = next(row for row in out.splitlines() if row.strip().startswith(label))
        assert f"{float(d.w):.12g}" in line and f"{float(d.b):.12g}" in line, line
        assert f"{float(d.trajectory[-1, :, 2].mean()):.8g}" in line, line
    assert "569 samples, 2 epochs, eta = 0.0001, from w = 2, b = -2, on cpu in float32" in out
    assert "largest step-wise |manual - autograd| over 1138 steps: w 0.000e+00, b 0.000e+00" in out
    assert "trajectory, 1138 steps" in out and out.rstrip().endswith(": ok")


def test_train_on_the_first_samples_of_a_longer_file(tmp_path, capsys):
    path = tmp_path / "long.csv"
    pd.DataFrame({"area": [1.0 + i / 100 for i in range(30)], "label": [i % 2 for i in range(30)]}).to_csv(
        path, index=False
    )
    assert main(["train", "--data", str(path), "--feature", "area", "--target", "label", "--samples", "12"]) == 0
    out = capsys.readouterr().out
    assert "(area -> label), 12 samples (--samples: more rows in the file are not used)" in out
    assert "trajectory, 240 steps" in out  # 20 epochs x 12


@pytest.mark.parametrize(
    ("samples", "more"), [(11, True), (12, False), (13, False)], ids=["11-of-12", "12-of-12", "13-of-12"]
)
def test_train_says_when_samples_leaves_rows_of_the_file_unused(tmp_path, capsys, samples, more):
    path = tmp_path / "twelve.csv"
    pd.DataFrame({"area": [1.0 + i / 100 for i in range(12)], "label": [i % 2 for i in range(12)]}).to_csv(
        path, index=False
    )
    args = ["train", "--data", str(path), "--feature", "area", "--target", "label", "--epochs", "1"]
    assert main([*args, "--samples", str(samples)]) == 0
    out = capsys.readouterr().out
    assert f"{min(samples, 12)} samples" in out
    assert ("(--samples: more rows in the file are not used)" in out) == more, out


@pytest.mark.parametrize(
    ("name", "wrong", "first"),
    [
        # sample 0 has x = 1.001: dz/dw = 1 is off by less than the allowance there; sample 1 (x = 1.326) is not
        pytest.param("delta_z_delta_w", lambda x: torch.ones_like(x), 1, id="dz_dw-1"),
        pytest.param("delta_sigma_delta_z", lambda z, sigma=None: torch.sigmoid(z), 0, id="dsigma_dz-sigma"),
    ],
)
def test_train_exits_1_when_the_loops_part(monkeypatch, capsys, name, wrong, first):
    """A wrong local derivative reaches the manual loop: its trajectory parts from torch.nn's."""
    monkeypatch.setattr(local_derivatives, name, wrong)
    assert main(["train", "--epochs", "1"]) == 1
    assert f"MISMATCH, first at epoch 0, sample {first}, parameter w" in capsys.readouterr().out


def test_without_matplotlib_plot_says_how_to_install_it_and_trains_nothing(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib... raises ImportError
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    assert main(["train", "--plot", str(tmp_path / "training.png")]) == 2
    out, err = capsys.readouterr()
    assert "--plot needs matplotlib, which is not installed: pip install 'backprop-manual[plot]'" in err
    assert out == "" and not (tmp_path / "training.png").exists()


def test_plot_writes_a_png(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason=NEEDS_PLOT)
    figure = tmp_path / "training.png"
    assert main(["train", "--epochs", "2", "--plot", str(figure)]) == 0
    assert capsys.readouterr().out.rstrip().endswith(f"figure: {figure}")
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.stat().st_size > 20_000


def test_plot_to_a_format_matplotlib_cannot_write(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason=NEEDS_PLOT)
    assert main(["train", "--plot", str(tmp_path / "training.xyz")]) == 2
    assert "--plot " + str(tmp_path / "training.xyz") + ": matplotlib writes" in capsys.readouterr().err


# ----------------------------------------
# What verify and train print, line for line, and the verdict's context: each piece from the computation it reports.
#
# The tables and summaries are formatted by neuron_check/verify.py and neuron_check/trajectory.py (tested in
# tests/neuron_check/test_verify.py and test_trajectory.py); here the commands must put the right ones, computed on
# the right data, in the right place.

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
        "schema": 4,
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


# ----------------------------------------
# Both loops, block by block of samples (so that a progress bar can move), take exactly the steps of one call.
# (That comparing their trajectories never counts a non-finite step as agreement:
# tests/neuron_check/test_trajectory.py.)

EPOCHS, ETA = 3, 1e-3  # a larger step than the lesson's, so that w and b move in every block


@functools.cache  # once per loop, dtype and device: every block size is compared with the same run
def in_one_call(loop, dtype, device):
    data = cell_data(dtype, device)
    return loop(*start(dtype, device), data.X, data.y, eta=ETA, epochs=EPOCHS, trajectory=True)


@pytest.mark.parametrize("block", [pytest.param(100, id="block100"), pytest.param(4096, id="one-block")])
def test_blocks_take_the_steps_of_one_call_bit_for_bit(device, dtype, block):
    data, (w, b) = cell_data(dtype, device), start(dtype, device)
    run = side_by_side(w, b, data.X, data.y, eta=ETA, epochs=EPOCHS, block=block)
    for blocked, loop in ((run.manual, gradient_descent), (run.autograd, nn_sgd_descent)):
        whole = in_one_call(loop, dtype, device)
        assert blocked.trajectory.shape == (EPOCHS, 569, 3)
        assert torch.equal(blocked.trajectory, whole.trajectory), loop.__name__
        assert torch.equal(blocked.w, whole.w) and torch.equal(blocked.b, whole.b), loop.__name__
    assert float(run.manual.w) != 2.0, "the parameters moved"


# ----------------------------------------
# The progress bar: drawn on a terminal, scaled (1.00M rows), gone when done; nothing at all in a pipe or CI log.


class Terminal(io.StringIO):
    """What the bar writes, kept as text; a pseudo-terminal behind fileno() for its size."""

    def __init__(self, columns: int = 100):
        super().__init__()
        self.leader, self.follower = os.openpty()
        self.resize(columns)

    def resize(self, columns: int) -> None:
        fcntl.ioctl(self.follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.follower

    def close(self) -> None:
        os.close(self.leader)
        os.close(self.follower)


@pytest.fixture
def stderr(monkeypatch):
    streams = []

    def use(stream):
        monkeypatch.setattr("sys.stderr", stream)
        streams.append(stream)
        return stream

    yield use
    for stream in streams:
        if isinstance(stream, Terminal):
            stream.close()


def last_line(stream: io.StringIO) -> str:
    return stream.getvalue().split("\r")[-1]


def test_on_a_terminal_the_bar_counts_in_scaled_units_and_is_erased_when_done(stderr):
    terminal = stderr(Terminal())
    with bar(2_000_000, "verifying gradients", " rows") as progress:
        progress.update(1_000_000)
        progress.refresh()
        assert last_line(terminal).startswith("verifying gradients:  50%")
        assert "1.00M/2.00M [" in last_line(terminal) and last_line(terminal).endswith(" rows/s]")
    assert last_line(terminal).strip() == "" and not terminal.getvalue().endswith("\n"), "no bar left behind"


def test_the_bar_follows_the_terminals_width(stderr):
    terminal = stderr(Terminal(columns=61))  # tqdm keeps the last column free
    with bar(1000, "training", " steps") as progress:
        progress.update(10)
        progress.refresh()
        assert len(last_line(terminal)) == 60
        terminal.resize(101)  # the window was widened
        progress.update(10)
        progress.refresh()
        assert len(last_line(terminal)) == 100


def test_in_a_pipe_nothing_is_written(stderr):
    pipe = stderr(io.StringIO())  # isatty() is False, as for a pipe or a CI log
    with bar(1000, "training", " steps") as progress:
        progress.update(1000)
    assert pipe.getvalue() == ""


def test_training_side_by_side_counts_its_steps_on_the_bar(stderr):
    terminal = stderr(Terminal())
    w, b = start(torch.float32)
    X, y = torch.tensor([1.0, 0.5, 1.5]), torch.tensor([1.0, 0.0, 1.0])
    side_by_side(w, b, X, y, eta=1e-4, epochs=2, block=2)
    first = terminal.getvalue().split("\r")[1]  # tqdm draws at the start, then at most every 0.1 s
    assert first.startswith("training:   0%|") and first.endswith("| 0.00/6.00 [00:00<?, ? steps/s]"), first
