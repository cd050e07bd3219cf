"""The main job: every sample, device and dtype, plus the trajectory; exit 0 when all agree, 1 when any disagrees."""

import subprocess
import sys

import torch

from backprop_manual import local_derivatives
from backprop_manual.cli import main


def test_module_entry_point_verifies_and_exits_0():
    run = subprocess.run(
        [sys.executable, "-m", "backprop_manual", "--device", "cpu", "--epochs", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    for table in ("cpu float32: 569 samples", "cpu float64: 569 samples"):
        assert table in run.stdout
    assert run.stdout.count(" ok\n") == 2 * (4 + 1), "4 intermediates and the trajectory, per dtype"
    assert "trajectory, 569 steps" in run.stdout
    assert run.stdout.rstrip().endswith("all agree")


def test_a_wrong_derivative_exits_1_and_names_it(monkeypatch, capsys):
    monkeypatch.setattr(local_derivatives, "delta_sigma_delta_z", lambda z, sigma=None: torch.sigmoid(z))
    assert main(["--device", "cpu", "--dtype", "float32", "--epochs", "1"]) == 1
    out = capsys.readouterr().out
    assert "delta_J_delta_z (dJ/dz) is the first intermediate to diverge, at sample 0" in out
    assert "trajectory, 569 steps" in out and "MISMATCH, first at epoch 0, sample 0, parameter w" in out
    assert out.rstrip().endswith("MISMATCH: see the tables above")
