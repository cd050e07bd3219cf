"""backprop-manual derivations lists the distributed ones; verify --derivation NAME|FILE.py [--world-size N] runs them:
0 every rank agrees, 1 a divergence named by (name, rank), 2 a rank that raised or an option that does not apply."""

import json

import pytest

from backprop_manual.cli.main import main
from backprop_manual.distributed.derivations import DISTRIBUTED

MINE = '''"""Data parallel on a linear model: z = X w, J = mean z^2; each rank a slice of the batch."""
import torch
import torch.distributed as dist
from torch.distributed.tensor import Partial, Shard

layouts = {"z": Shard(0), "loss": Partial()}


def forward(w, X):
    z = X @ w
    return {"z": z, "loss": (z**2).mean()}


def reference():
    X = torch.arange(24, dtype=torch.float64).reshape(8, 3) / 10
    return forward, {"w": torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)}, {"X": X}


def rank_forward(w, X):
    z = X @ w
    return {"z": z, "loss": (z**2).sum() / 8}


def backward(fwd, w, X):
    d_z = 2 * fwd["z"] / 8
    d_w = X.T @ d_z
    dist.all_reduce(d_w)
    return {"z": d_z, "w": d_w}


def sharded(rank, world_size):
    _, params, inputs = reference()
    return rank_forward, backward, params, {"X": torch.chunk(inputs["X"], world_size)[rank]}
'''


def test_derivations_lists_the_distributed_ones_after_the_others(capsys):
    assert main(["derivations"]) == 0
    lines = capsys.readouterr().out.splitlines()[-len(DISTRIBUTED) :]
    for line, (name, (_, _, description)) in zip(lines, DISTRIBUTED.items(), strict=True):
        assert line.split()[0] == name and line.removeprefix(name).strip() == description


@pytest.mark.distributed
def test_a_shipped_distributed_derivation_agrees_on_four_ranks(capsys):
    assert main(["verify", "--derivation", "data-parallel", "--world-size", "4"]) == 0
    out = capsys.readouterr().out
    assert "derivation data-parallel: data parallel" in out and "; 4 ranks, gloo on cpu" in out
    assert "\nevery rank agrees: " in out and "\nrank 3: parameters and forward values: " in out
    assert out.endswith("\nall agree\n")


@pytest.mark.distributed
@pytest.mark.parametrize(
    ("edit", "code", "expected"),
    [
        pytest.param(("", ""), 0, "\nall agree\n", id="right"),
        pytest.param(
            ("    dist.all_reduce(d_w)\n", ""),
            1,
            "rank 0 of 2: w (delta_J_delta_w, dJ/dw) is the first",
            id="no-all-reduce",
        ),
        pytest.param(
            ("    d_z = 2", "    1 / 0\n    d_z = 2"),
            2,
            "rank 0 raised: the backward raised ZeroDivisionError: division by zero",
            id="backward-raises",
        ),
    ],
)
def test_a_users_file_defining_reference_sharded_and_layouts(tmp_path, capsys, edit, code, expected):
    path = tmp_path / "mine.py"
    path.write_text(MINE.replace(*edit), encoding="utf-8")
    assert main(["verify", "--derivation", str(path)]) == code
    out, err = capsys.readouterr()
    assert expected in (err if code == 2 else out), out + err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(["verify", "--world-size", "2"], "--world-size applies to a distributed derivation", id="neuron"),
        pytest.param(["verify", "--derivation", "softmax", "--world-size", "2"], "--world-size applies", id="softmax"),
        pytest.param(["train", "--derivation", "tp-mlp"], "backprop-manual verify checks it, not train", id="train"),
        pytest.param(["verify", "--derivation", "tp-mlp", "--device", "cuda"], "ranks run on gloo", id="cuda"),
        pytest.param(["verify", "--timeout", "5"], "--timeout applies to a distributed", id="timeout-neuron"),
        pytest.param(["verify", "--derivation", "softmax", "--timeout", "5"], "--timeout applies", id="timeout-soft"),
        pytest.param(["verify", "--derivation", "tp-mlp", "--timeout", "0"], "seconds > 0", id="timeout-zero"),
    ],
)
def test_an_option_that_does_not_apply_is_exit_2(capsys, argv, expected):
    assert main(argv) == 2
    assert expected in capsys.readouterr().err


@pytest.mark.distributed
@pytest.mark.parametrize(
    ("edit", "code"),
    [pytest.param(("", ""), 0, id="right"), pytest.param(("    dist.all_reduce(d_w)\n", ""), 1, id="no-all-reduce")],
)
def test_json_names_the_first_divergent_name_and_rank_and_holds_a_run_per_rank(tmp_path, edit, code):
    path, out = tmp_path / "mine.py", tmp_path / "verdict.json"
    path.write_text(MINE.replace(*edit), encoding="utf-8")
    assert main(["verify", "--derivation", str(path), "--world-size", "2", "--json", str(out)]) == code
    verdict = json.loads(out.read_text(encoding="utf-8"))
    assert (verdict["status"], verdict["exit_code"], verdict["world_size"]) == (["ok", "MISMATCH"][code], code, 2)
    assert verdict["layouts"] == {"z": "Shard(0)", "loss": "Partial()"}
    assert [r["rank"] for r in verdict["runs"]] == [0, 1]
    assert all([i["name"] for i in r["intermediates"]] == ["z", "w"] for r in verdict["runs"])
    assert all({h["name"] for h in r["held"]} == {"w", "z", "loss"} for r in verdict["runs"])
    if code == 0:
        assert verdict["first_divergence"] is None
        assert all(r["status"] == "ok" and r["first_divergent_intermediate"] is None for r in verdict["runs"])
    else:
        first = verdict["first_divergence"]
        assert (first["name"], first["rank"], first["stage"], first["status"]) == ("w", 0, "gradient", "MISMATCH")
        assert [r["status"] for r in verdict["runs"]] == ["MISMATCH", "MISMATCH"]


@pytest.mark.distributed
def test_a_rank_that_hangs_ends_the_run_at_the_timeout_given_with_exit_2(tmp_path, capsys):
    path = tmp_path / "mine.py"
    hang = "    if dist.get_rank() == 0:  # rank 1 never enters it\n        dist.all_reduce(d_w)\n"
    path.write_text(MINE.replace("    dist.all_reduce(d_w)\n", hang), encoding="utf-8")
    assert main(["verify", "--derivation", str(path), "--timeout", "3"]) == 2
    assert "rank 0 timed out: still running 3 s after the ranks started" in capsys.readouterr().err


def test_a_bug_of_the_tool_inside_a_rank_is_exit_3_never_1_or_2(monkeypatch, capsys):
    from backprop_manual.distributed import ToolBug, verify

    def broken(*args, **kwargs):
        raise ToolBug("internal error in rank 1: Traceback ...")

    monkeypatch.setattr(verify, "verify_distributed", broken)
    assert main(["verify", "--derivation", "tp-mlp"]) == 3
    assert "internal error: ToolBug: internal error in rank 1" in capsys.readouterr().err
