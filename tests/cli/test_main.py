"""The main job: every sample, device and dtype, plus the trajectory; exit 0 when all agree, 1 when any disagrees.

`backprop-manual` with no command is `backprop-manual verify`; both have a complete --help with an example.
"""

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pytest
import torch

from backprop_manual.cli.main import joined, main
from backprop_manual.neuron import local_derivatives

ROOT = Path(__file__).resolve().parents[1]


def run_python(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args], env=env, timeout=300, **kwargs)


def run_module(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return run_python("-m", "backprop_manual", *args, **kwargs)


@pytest.mark.heavy
def test_module_entry_point_verifies_and_exits_0_with_no_bar_in_a_pipe():
    run = run_module("--device", "cpu", "--epochs", "1", capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stderr == "", "stderr is a pipe: tqdm must stay silent"
    for table in ("cpu float32: 569 samples", "cpu float64: 569 samples"):
        assert table in run.stdout
    assert run.stdout.count(" ok\n") == 2 * (4 + 1), "4 intermediates and the trajectory, per dtype"
    assert "trajectory, 569 steps" in run.stdout
    assert run.stdout.rstrip().endswith("all agree")


def test_no_command_is_verify(capsys):
    args = ["--device", "cpu", "--dtype", "float64", "--epochs", "1"]
    assert main(args) == 0
    bare = capsys.readouterr().out
    assert main(["verify", *args]) == 0
    assert capsys.readouterr().out == bare


def sigma_for_dsigma_dz(z, sigma=None):
    """The wrong derivative of the issue: dsigma/dz = sigma(z), its (1 - sigma) factor dropped."""
    return torch.sigmoid(z)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_wrong_derivative_exits_1_and_names_it_and_the_first_step(monkeypatch, capsys, dtype):
    """In process, so that the monkeypatch reaches both the gradient table and the trajectory's loop."""
    monkeypatch.setattr(local_derivatives, "delta_sigma_delta_z", sigma_for_dsigma_dz)
    assert main(["--device", "cpu", "--dtype", dtype, "--epochs", "1"]) == 1
    out = capsys.readouterr().out
    assert "delta_J_delta_z (dJ/dz) is the first intermediate to diverge, at sample 0" in out
    assert "trajectory, 569 steps" in out and "MISMATCH, first at epoch 0, sample 0, parameter w" in out
    assert out.rstrip().endswith("MISMATCH: see the tables above")


@pytest.mark.parametrize(
    "command, words",
    [
        pytest.param([], ["verify", "train", "Exit codes", "example: backprop-manual"], id="top"),
        pytest.param(
            ["verify"],
            [
                "--data",
                "--feature",
                "--target",
                "--device",
                "--dtype",
                "--json",
                "--trajectory-samples",
                "--w0",
                "--b0",
                "--epochs",
                "--lr",
                "first --trajectory-samples rows",
                "Exit codes",
                "examples:",
                "backprop-manual verify --device cpu",
            ],
            id="verify",
        ),
        pytest.param(
            ["train"],
            [
                "--data",
                "--feature",
                "--target",
                "--epochs",
                "--lr",
                "--w0",
                "--b0",
                "--plot",
                "--samples",
                "backprop-manual[plot]",
                "Exit codes",
                "examples:",
                "backprop-manual train --epochs 50 --plot",
            ],
            id="train",
        ),
    ],
)
def test_help_is_complete_with_an_example(capsys, command, words):
    assert main([*command, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines: compare words
    missing = [w for w in words if w not in text]
    assert not missing, f"--help of {command or 'backprop-manual'} lacks {missing}:\n{text}"


ARGS = ("verify", "--device", "cpu", "--dtype", "float64", "--epochs", "1")


def read_all(fd: int, into: list[bytes]) -> None:
    while True:
        try:
            data = os.read(fd, 1 << 16)
        except OSError:  # EIO: the child closed the terminal
            return
        if not data:
            return
        into.append(data)


def run_on_a_terminal(*args: str) -> tuple[int, str, str]:
    """python with these arguments, stderr on a pseudo-terminal (where a user sees the bar), stdout in a pipe."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 24 x 100: tqdm draws to the width
    received: list[bytes] = []
    reader = threading.Thread(target=read_all, args=(leader, received))
    reader.start()
    try:
        run = run_python(*args, stdout=subprocess.PIPE, stderr=follower)
    finally:
        os.close(follower)
        reader.join(timeout=10)
        os.close(leader)
    return run.returncode, run.stdout.decode(), b"".join(received).decode(errors="replace")


@pytest.mark.heavy
def test_progress_bar_on_a_terminal_and_the_results_on_stdout():
    returncode, out, terminal = run_on_a_terminal("-m", "backprop_manual", *ARGS)
    assert returncode == 0
    assert "verifying gradients" in terminal and "trajectory cpu float64" in terminal and "|" in terminal
    assert "verifying" not in out and out.rstrip().endswith("all agree")


@pytest.mark.parametrize(
    "argv, expected",
    [
        pytest.param(["--b0", "-2e3"], ["--b0=-2e3"], id="exponent"),
        pytest.param(["--w0", "-inf", "--lr", "-1E-3"], ["--w0=-inf", "--lr=-1E-3"], id="inf-and-capital-E"),
        pytest.param(["--b0", "-2"], ["--b0=-2"], id="plain-negative"),
        pytest.param(["--b0", "-x"], ["--b0", "-x"], id="not-a-number-left-to-argparse"),
        pytest.param(["--epochs", "-3"], ["--epochs", "-3"], id="not-a-number-option"),
        pytest.param(["--b0"], ["--b0"], id="missing-value"),
    ],
)
def test_a_negative_number_in_exponent_form_is_the_options_value(argv, expected):
    assert joined(argv) == expected


def test_b0_in_exponent_form_verifies(capsys):
    assert main(["verify", "--device", "cpu", "--dtype", "float64", "--epochs", "1", "--b0", "-2e3"]) == 0
    assert "b = -2000" in capsys.readouterr().out
