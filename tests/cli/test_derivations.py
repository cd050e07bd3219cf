"""backprop-manual verify|train --derivation NAME|FILE.py, and backprop-manual derivations.

A user's file is written into tmp_path: the neuron in matrix form with its hand backward. Exit 0 when it agrees, 1
for a planted mistake (named first), 2 with one line on stderr and no traceback for every way the file itself can be
wrong, including an exception inside its own forward or backward: 1 is only ever a real disagreement.
"""

import json
import math
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from backprop_manual.check import verify_chain
from backprop_manual.cli.main import main
from backprop_manual.derivations import SHIPPED
from backprop_manual.distributed.derivations import DISTRIBUTED

MINE = '''"""z = X w + b;  sigma = sigmoid(z);  J = mean (sigma - y)^2"""
import torch


def forward(w, b, X, y):
    z = X @ w + b
    sigma = torch.sigmoid(z)
    return {"z": z, "sigma": sigma, "loss": ((sigma - y) ** 2).mean()}


def backward(fwd, w, b, X, y):
    N = X.shape[0]
    d_sigma = 2 * (fwd["sigma"] - y) / N
    d_z = fwd["sigma"] * (1 - fwd["sigma"]) * d_sigma
    return {"sigma": d_sigma, "z": d_z, "w": X.T @ d_z, "b": d_z.sum(0)}


def example(dtype, device):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(16, 3, generator=g, dtype=torch.float64)
    y = (X[:, 0] > 0).double()
    w = torch.randn(3, generator=g, dtype=torch.float64)
    move = dict(dtype=dtype, device=device)
    return {"w": w.to(**move), "b": torch.zeros((), **move)}, {"X": X.to(**move), "y": y.to(**move)}
'''
RETURN = '    return {"w": w.to(**move), "b": torch.zeros((), **move)}, {"X": X.to(**move), "y": y.to(**move)}'
CPU = ["--device", "cpu"]


def edit(source: str, old: str, new: str) -> str:
    assert source.count(old) == 1, f"the edit's anchor {old!r} is not in the file once"
    return source.replace(old, new)


def user_file(tmp_path: Path, source: str = MINE, name: str = "mine.py") -> str:
    path = tmp_path / name
    path.write_text(source, encoding="utf-8")
    return str(path)


def the_error(capsys, code: int, path: str = "") -> str:
    """The one line on stderr of a run that exited 2, checked: no traceback, the file named."""
    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert "Traceback" not in out + err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("backprop-manual verify: error: " + (f"{path}: " if path else "")), err
    return err


def test_a_correct_file_agrees_on_the_device_and_dtype(tmp_path, capsys, device, dtype):
    name = str(dtype).removeprefix("torch.")
    path = user_file(tmp_path)
    assert main(["verify", "--derivation", path, "--device", device, "--dtype", name]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"backprop_manual: hand backward vs autograd, in chain order; derivation {path}; ")
    assert "training: 20 epochs (one full-batch step each), lr = 0.1 (the default)" in out
    assert f"\n{device} {name}: all 4 gradients agree\n" in out
    rows = [line.split()[0] for line in out.splitlines() if line.startswith("  delta_J_delta_")]
    assert rows == ["delta_J_delta_sigma", "delta_J_delta_z", "delta_J_delta_w", "delta_J_delta_b"], "chain order"
    assert "  training, 20 steps in lockstep (each from autograd's parameters), free-running drift " in out
    assert out.endswith("\nall agree\n")


def test_every_available_device_and_both_dtypes_by_default(tmp_path, capsys):
    assert main(["verify", "--derivation", user_file(tmp_path), "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    on = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    assert [line.split(":")[0] for line in out.splitlines() if line.endswith("gradients agree")] == [
        f"{d} {n}" for d in on for n in ("float32", "float64")
    ]
    not_verified = "cuda: not available on this machine (torch.cuda.is_available() is False): not verified"
    assert (not_verified in out) == (not torch.cuda.is_available())


def test_a_planted_mistake_exits_1_and_names_the_first_divergent_gradient(tmp_path, capsys):
    wrong = edit(MINE, 'd_z = fwd["sigma"] * (1 - fwd["sigma"]) * d_sigma', 'd_z = fwd["sigma"] * d_sigma')
    assert main(["verify", "--derivation", user_file(tmp_path, wrong), *CPU, "--dtype", "float64"]) == 1
    out = capsys.readouterr().out
    assert "\ncpu float64: MISMATCH\nz (delta_J_delta_z, dJ/dz) is the first gradient in chain order to diverge" in out
    assert "  witness: float64 central differences" in out and "the manual side is wrong" in out
    first = [line for line in out.splitlines() if line.endswith("<- first")]
    assert len(first) == 1 and first[0].startswith("  delta_J_delta_z "), out
    assert ": MISMATCH, first at step 0, parameter w[" in out, "the training parts at once"
    assert out.endswith("\nMISMATCH: see the tables above\n")


def test_training_alone_can_fail(tmp_path, capsys):
    """The gradients are right at the example's point, but the backward's update drifts: exit 1 on training."""
    drift = edit(MINE, '"b": d_z.sum(0)}', '"b": d_z.sum(0) * (1 + (b != 0))}')
    assert main(["verify", "--derivation", user_file(tmp_path, drift), *CPU, "--dtype", "float64"]) == 1
    out = capsys.readouterr().out
    assert "cpu float64: all 4 gradients agree" in out, "b starts at 0, where the wrong factor is 1"
    assert ": MISMATCH, first at step 1, parameter b[]" in out


BAD_FILES = {
    # id: (how to make the file from MINE, or None for no file at all; what the one line must say)
    "missing": (None, "no such file"),
    "syntax-error": (lambda s: s + "\ndef broken(:\n", "does not import: SyntaxError: "),
    "import-error": (lambda s: "import not_a_module_anywhere\n" + s, "does not import: ModuleNotFoundError: No module"),
    "raises-at-import": (lambda s: s + '\nraise RuntimeError("half-finished")\n', "RuntimeError: half-finished (line"),
    "exits-at-import": (lambda s: s + "\nimport sys\nsys.exit(3)\n", "does not import: SystemExit: 3"),
    "no-backward": (lambda s: edit(s, "def backward(", "def backward_("), "no function backward()"),
    "forward-not-a-function": (lambda s: s + "\nforward = 3\n", "no function forward()"),
    "per-sample-not-bool": (lambda s: s + '\nPER_SAMPLE = "yes"\n', "PER_SAMPLE must be True or False, not 'yes'"),
    "lr-not-positive": (lambda s: s + "\nLR = -1\n", "LR must be a finite number > 0, not -1"),
    "example-raises": (
        lambda s: edit(
            s, "    g = torch.Generator()", '    raise ValueError("no data yet")\n    g = torch.Generator()'
        ),
        "example(torch.float32, 'cpu') raised ValueError: no data yet (line 19)",
    ),
    "example-returns-a-list": (lambda s: edit(s, RETURN, "    return [X, y, w]"), "it returned a list of 3"),
    "example-returns-one-dict": (lambda s: edit(s, RETURN, '    return {"w": w}'), "it returned a dict"),
    "param-not-a-tensor": (
        lambda s: edit(s, 'torch.zeros((), **move)}, {"X"', '0.0}, {"X"'),
        "returned params['b'] a float, not a tensor",
    ),
    "example-ignores-dtype": (
        lambda s: edit(s, "move = dict(dtype=dtype, ", "move = dict(dtype=torch.float64, "),
        "returned params['w'] float64, not float32: make the tensors with dtype=dtype",
    ),
    "example-ignores-device": (
        lambda s: edit(s, "move = dict(dtype=dtype, device=device)", 'move = dict(dtype=dtype, device="meta")'),
        "returned params['w'] on meta, not cpu: make the tensors with device=device",
    ),
    "verifier-rejects-it": (
        lambda s: edit(s, 'return {"sigma": d_sigma,', 'return {"s": d_sigma,'),
        "the backward returned 's', which is neither an intermediate of the forward (z, sigma) nor a parameter",
    ),
    "loss-not-scalar": (lambda s: edit(s, "** 2).mean()}", "** 2)}"), "the loss must be a scalar"),
    "backward-raises": (
        lambda s: edit(s, "    N = X.shape[0]\n", "    N = X.shape[0] // 0\n"),
        "backward raised ZeroDivisionError: integer division or modulo by zero (line 12), on cpu in float32",
    ),
    "loss-not-finite-at-the-example": (
        lambda s: edit(s, '"loss": ((sigma - y) ** 2).mean()}', '"loss": ((sigma - y) ** 2).mean() / (b - b)}'),
        "J is not finite at example()'s point on cpu in float32: not verified; choose another",
    ),
    # autograd's own gradient not finite where the hand backward's is (0 · sqrt(b - b): d/db is 0 · inf = NaN in
    # autograd's chain rule, J finite): autograd cannot judge there, so nothing is shown to disagree: 2, not 1
    "autograd-not-finite": (
        lambda s: edit(
            s, '"loss": ((sigma - y) ** 2).mean()}', '"loss": ((sigma - y) ** 2).mean() + 0 * (b - b).sqrt()}'
        ),
        "autograd's own dJ/db is not finite at [] on cpu in float32 (autograd nan, the hand backward",
    ),
    "forward-raises": (
        lambda s: edit(s, "    sigma = torch.sigmoid(z)\n", '    sigma = {}["sigmoid"]\n'),
        "forward raised KeyError: 'sigmoid' (line 7), on cpu in float32",
    ),
    # a gradient that is not a torch tensor breaks the contract: a usage error naming it, never a MISMATCH (exit 1)
    "gradient-a-numpy-array": (
        lambda s: edit(s, '"w": X.T @ d_z,', '"w": (X.T @ d_z).numpy(),'),
        "the backward's gradient 'w' (dJ/dw) is a numpy.ndarray, not a torch.Tensor: return a tensor, e.g. "
        "torch.as_tensor(value, dtype=torch.float32, device='cpu'), on cpu in float32",
    ),
    "gradient-a-numpy-scalar": (
        lambda s: edit(s, '"b": d_z.sum(0)}', '"b": d_z.sum(0).numpy()[()]}'),
        "the backward's gradient 'b' (dJ/db) is a numpy.float32, not a torch.Tensor",
    ),
    "gradient-a-python-float": (
        lambda s: edit(s, '"b": d_z.sum(0)}', '"b": float(d_z.sum(0))}'),
        "the backward's gradient 'b' (dJ/db) is a float, not a torch.Tensor",
    ),
    "gradient-a-list": (
        lambda s: edit(s, '"w": X.T @ d_z,', '"w": (X.T @ d_z).tolist(),'),
        "the backward's gradient 'w' (dJ/dw) is a list, not a torch.Tensor",
    ),
    "check-inputs-a-string": (
        lambda s: s + '\nCHECK_INPUTS = "X"\n',
        "CHECK_INPUTS must be a tuple of input names, e.g. ('x',), not 'X'",
    ),
    "check-inputs-not-an-input": (
        lambda s: s + '\nCHECK_INPUTS = ("Q",)\n',
        "check_inputs names 'Q', which is not among the inputs ('X', 'y'), on cpu in float32",
    ),
    "check-inputs-a-parameter": (
        lambda s: s + '\nCHECK_INPUTS = ("w",)\n',
        "check_inputs names 'w', a parameter: a parameter's gradient is checked anyway",
    ),
}


@pytest.mark.parametrize("case", [pytest.param(k, id=k) for k in BAD_FILES])
def test_a_bad_file_is_one_line_and_exit_2_never_1(tmp_path, capsys, case):
    make, says = BAD_FILES[case]
    path = str(tmp_path / "mine.py") if make is None else user_file(tmp_path, make(MINE))
    err = the_error(capsys, main(["verify", "--derivation", path, *CPU, "--json", str(tmp_path / "v.json")]), path)
    assert says in err, err
    assert not (tmp_path / "v.json").exists(), "a run that exits 2 writes no verdict"


def test_a_forward_that_fails_under_vmap_says_so(tmp_path, capsys):
    source = edit(MINE, "(sigma - y) ** 2).mean()}", "(sigma - y) ** 2) * float(X.sum() != 0)}") + "PER_SAMPLE = True\n"
    err = the_error(capsys, main(["verify", "--derivation", user_file(tmp_path, source), *CPU]))
    assert "forward raised RuntimeError: vmap: " in err and "(line 8), " in err
    assert err.endswith("on cpu in float32 (PER_SAMPLE: one sample at a time, under vmap)\n"), err


def test_a_directory_is_refused(tmp_path, capsys):
    err = the_error(capsys, main(["verify", "--derivation", str(tmp_path), *CPU]), str(tmp_path))
    assert "is a directory" in err


def test_a_file_that_is_not_python_is_refused(tmp_path, capsys):
    path = user_file(tmp_path, MINE, "mine.txt")
    err = the_error(capsys, main(["verify", "--derivation", path, *CPU]), path)
    assert "not a Python file" in err


def test_an_unknown_name_lists_the_shipped_ones(capsys):
    err = the_error(capsys, main(["verify", "--derivation", "no-such-derivation", *CPU]))
    assert err.startswith(
        "backprop-manual verify: error: unknown derivation 'no-such-derivation': the shipped ones are "
    )
    assert ", ".join(SHIPPED) in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here: it is only refused where it is absent")
def test_cuda_asked_for_without_a_gpu_is_exit_2(tmp_path, capsys):
    for command in ("verify", "train"):
        code = main([command, "--derivation", user_file(tmp_path), "--device", "cuda"])
        out, err = capsys.readouterr()
        assert (code, out) == (2, "")
        assert err == (
            f"backprop-manual {command}: error: --device cuda asked for, but torch.cuda.is_available() is False "
            "(no GPU, or a CPU build of torch)\n"
        )


@pytest.mark.parametrize(
    "command, option",
    [
        pytest.param("verify", ["--feature", "f"], id="verify-feature"),
        pytest.param("verify", ["--target", "t"], id="verify-target"),
        pytest.param("verify", ["--w0", "1"], id="verify-w0"),
        pytest.param("verify", ["--b0", "0"], id="verify-b0"),
        pytest.param("verify", ["--trajectory-samples", "all"], id="verify-trajectory-samples"),
        pytest.param("train", ["--data", "x.csv"], id="train-data"),  # verify --data reads a derivation's inputs
        pytest.param("train", ["--samples", "10"], id="train-samples"),
        pytest.param("train", ["--plot", "out.png"], id="train-plot"),
    ],
)
def test_the_neurons_csv_options_are_refused_with_a_derivation(tmp_path, capsys, command, option):
    code = main([command, "--derivation", user_file(tmp_path), *option])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == (
        f"backprop-manual {command}: error: {option[0]} applies to the lesson's neuron on a CSV, not to --derivation "
        f"{tmp_path / 'mine.py'}: its example(dtype, device) gives the parameters and the data\n"
    )


def test_the_learning_rate_is_lr_else_the_modules_lr_else_the_default(tmp_path, capsys):
    path = user_file(tmp_path, MINE + "\nLR = 0.25\n")
    for extra, says in (([], "lr = 0.25 (the module's LR)"), (["--lr", "0.5"], "lr = 0.5 (--lr)")):
        assert main(["verify", "--derivation", path, *CPU, "--dtype", "float64", "--epochs", "1", *extra]) == 0
        assert says in capsys.readouterr().out


PER_SAMPLE = '''"""The lesson's neuron, one J per sample: z = w x + b; sigma = sigmoid(z); J_i = (sigma_i - y_i)^2"""
import torch

PER_SAMPLE = True
LR = 0.5


def forward(w, b, x, y):
    z = w * x + b
    sigma = torch.sigmoid(z)
    return {"z": z, "sigma": sigma, "loss": (sigma - y) ** 2}


def backward(fwd, w, b, x, y):
    d_sigma = 2 * (fwd["sigma"] - y)
    d_z = fwd["sigma"] * (1 - fwd["sigma"]) * d_sigma
    return {"sigma": d_sigma, "z": d_z, "w": x * d_z, "b": d_z}


def example(dtype, device):
    x = torch.linspace(-2, 2, 7, dtype=dtype, device=device)
    return {"w": torch.tensor(0.5, dtype=dtype, device=device), "b": torch.zeros((), dtype=dtype, device=device)}, {
        "x": x, "y": (x > 0).to(dtype)}
'''


def test_a_per_sample_file_trains_one_sample_per_step(tmp_path, capsys):
    path = user_file(tmp_path, PER_SAMPLE)
    assert main(["verify", "--derivation", path, *CPU, "--epochs", "3"]) == 0
    out = capsys.readouterr().out
    assert "training: 3 epochs (one step per sample, PER_SAMPLE), lr = 0.5 (the module's LR)" in out
    assert out.count("  training, 21 steps in lockstep ") == 2, "7 samples x 3 epochs, in each dtype"
    assert "  delta_J_delta_w             dJ/dw  [7]" in out, "each sample's own dJ_i/dw"


CHECKED = edit(MINE, '"b": d_z.sum(0)}', '"b": d_z.sum(0), "X": d_z[:, None] * w}') + '\nCHECK_INPUTS = ("X",)\n'


def test_a_file_with_check_inputs_checks_the_input_and_never_trains_it(tmp_path, capsys):
    verdict = tmp_path / "v.json"
    assert main(["verify", "--derivation", user_file(tmp_path, CHECKED), *CPU, "--json", str(verdict)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith("; dJ/dX checked too (CHECK_INPUTS), never trained"), out
    rows = [line.split("]")[0].split() for line in out.splitlines() if line.startswith("  X ")]
    assert rows == [["X", "dJ/dX", "[16,", "3"]] * 2, "a row in each dtype, by the user's name, shape [16, 3]"
    document = strict_json(verdict)
    assert document["derivation"]["check_inputs"] == ["X"]
    assert all(set(run["training"]["max_abs_diff"]) == {"w", "b"} for run in document["runs"]), "X is not trained"
    wrong = edit(CHECKED, '"X": d_z[:, None] * w}', '"X": d_z[:, None] * w.flip(0)}')
    assert main(["verify", "--derivation", user_file(tmp_path, wrong), *CPU, "--dtype", "float64"]) == 1
    out = capsys.readouterr().out
    assert "\ncpu float64: MISMATCH\nX (dJ/dX) is the first gradient in chain order to diverge: " in out
    assert ": MISMATCH, first at step 0, input X[0, 0]: " in out


def test_a_per_sample_file_with_check_inputs_trains_one_sample_per_step(tmp_path, capsys):
    source = edit(PER_SAMPLE, '"b": d_z}', '"b": d_z, "x": w * d_z}') + 'CHECK_INPUTS = ("x",)\n'
    assert main(["verify", "--derivation", user_file(tmp_path, source), *CPU, "--epochs", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("  training, 21 steps in lockstep ") == 2, "7 samples x 3 epochs, in each dtype"
    assert "  x                           dJ/dx  [7]" in out, "each sample's own dJ_i/dx_i"
    wrong = edit(source, '"x": w * d_z}', '"x": 2 * w * d_z}')
    assert main(["verify", "--derivation", user_file(tmp_path, wrong), *CPU, "--dtype", "float64"]) == 1
    out = capsys.readouterr().out
    assert "\nx (dJ/dx) is the first gradient in chain order to diverge: " in out
    assert ": MISMATCH, first at step 0, input x[0]: " in out, "one sample per step: x of shape [1]"


def strict_json(path: Path) -> dict:
    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


def test_the_json_verdict_holds_every_row_with_null_for_non_finite(tmp_path, capsys):
    path, verdict = user_file(tmp_path), tmp_path / "verdict.json"
    assert main(["verify", "--derivation", path, *CPU, "--epochs", "3", "--json", str(verdict)]) == 0
    document = strict_json(verdict)
    assert {k: document[k] for k in ("schema", "status", "exit_code", "command")} == {
        "schema": 4,
        "status": "ok",
        "exit_code": 0,
        "command": "backprop-manual verify",
    }
    assert document["derivation"] == {"name": path, "source": path, "per_sample": False, "check_inputs": []}
    assert document["training"] == {"epochs": 3, "lr": 0.1, "lr_from": "the default"}
    assert document["devices_not_available"] == []  # --device cpu: nothing was left out
    assert document["torch"] == torch.__version__
    assert [(r["device"], r["dtype"]) for r in document["runs"]] == [("cpu", "float32"), ("cpu", "float64")]
    namespace: dict = {}
    exec(compile(MINE, path, "exec"), namespace)
    for run, dtype in zip(document["runs"], (torch.float32, torch.float64), strict=True):
        assert (run["status"], run["first_divergent_intermediate"], run["notes"]) == ("ok", None, [])
        report = verify_chain(namespace["forward"], namespace["backward"], *namespace["example"](dtype, "cpu"))
        for row, r in zip(run["intermediates"], report.rows, strict=True):
            expected = {
                k: None if isinstance(v, float) and not math.isfinite(v) else v
                for k, v in asdict(r).items()
                if k != "deciding"
            }
            assert row == expected, r.name
        training = run["training"]
        assert (training["status"], training["steps"], training["first_divergence"]) == ("ok", 3, None)
        assert set(training["max_abs_diff"]) == {"w", "b"}
        assert training["summary"].startswith("training, 3 steps in lockstep (each from autograd's parameters)")
    assert any(row["headroom"] is None for run in document["runs"] for row in run["intermediates"]), (
        "an exact row's headroom is inf: null in the file"
    )


def test_the_json_verdict_of_a_mismatch(tmp_path, capsys):
    wrong = edit(MINE, '"w": X.T @ d_z', '"w": 2 * X.T @ d_z')
    verdict = tmp_path / "verdict.json"
    code = main(
        ["verify", "--derivation", user_file(tmp_path, wrong), *CPU, "--dtype", "float64", "--json", str(verdict)]
    )
    assert code == 1
    document = strict_json(verdict)
    assert (document["status"], document["exit_code"]) == ("MISMATCH", 1)
    (run,) = document["runs"]
    assert (run["status"], run["first_divergent_intermediate"]) == ("MISMATCH", "delta_J_delta_w")
    assert [(r["name"], r["status"]) for r in run["intermediates"]] == [
        ("sigma", "ok"),
        ("z", "ok"),
        ("w", "MISMATCH"),
        ("b", "ok"),
    ]
    assert all("ok" not in r for r in run["intermediates"]), "a row's status says it: no ok beside it"
    first = run["training"]["first_divergence"]
    assert (run["training"]["status"], first["step"], first["parameter"]) == ("MISMATCH", 0, "w")
    assert set(first) == {"step", "parameter", "index", "manual", "autograd", "allowance", "problem", "role"}
    assert first["role"] == "parameter"
    assert first["problem"].startswith("dJ/dw: |manual - autograd| "), "a value that parted, by the error model's rule"


def test_train_prints_the_final_parameters_and_the_summary(tmp_path, capsys):
    path = user_file(tmp_path)
    assert main(["train", "--derivation", path, "--epochs", "5"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == (
        f"backprop-manual train: derivation {path}; training: 5 epochs (one full-batch step each), lr = 0.1 "
        "(the default); on cpu in float64"
    )
    assert lines[2].startswith("  J: ") and " at the start; at the end: manual " in lines[2]
    assert lines[4].split() == [
        "parameter",
        "shape",
        "final",
        "|manual",
        "-",
        "SGD|",
        "largest",
        "over",
        "the",
        "steps",
    ]
    assert [line.split()[:2] for line in lines[5:7]] == [["w", "[3]"], ["b", "[]"]]
    assert lines[-1].startswith("  training, 5 steps in lockstep ") and lines[-1].endswith(": ok")


def test_train_exits_1_where_the_loops_part(tmp_path, capsys):
    wrong = edit(MINE, '"b": d_z.sum(0)}', '"b": -d_z.sum(0)}')
    assert main(["train", "--derivation", user_file(tmp_path, wrong), "--epochs", "2"]) == 1
    assert ": MISMATCH, first at step 0, parameter b[]" in capsys.readouterr().out


def test_train_refuses_a_bad_file_in_one_line(tmp_path, capsys):
    code = main(["train", "--derivation", user_file(tmp_path, edit(MINE, "def example(", "def example_("))])
    out, err = capsys.readouterr()
    assert (code, out, err.count("\n")) == (2, "", 1)
    assert err.startswith(f"backprop-manual train: error: {tmp_path / 'mine.py'}: no function example()")


def test_two_users_files_of_one_name_are_two_modules(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    right = user_file(tmp_path / "a", MINE)
    wrong = user_file(tmp_path / "b", edit(MINE, '"b": d_z.sum(0)}', '"b": -d_z.sum(0)}'))
    for path, code in ((right, 0), (wrong, 1), (right, 0)):
        assert main(["verify", "--derivation", path, *CPU, "--dtype", "float64", "--epochs", "1"]) == code, path
    capsys.readouterr()


@pytest.mark.parametrize("name", list(SHIPPED))
def test_each_shipped_derivation_verifies_by_name(capsys, name):
    assert main(["verify", "--derivation", name, *CPU, "--dtype", "float64", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"backprop_manual: hand backward vs autograd, in chain order; derivation {name} (")
    assert f": {SHIPPED[name][1]}; training: 1 epoch (" in out
    assert out.endswith("\nall agree\n")


def test_derivations_lists_the_shipped_ones_name_first(capsys):
    assert main(["derivations"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [*SHIPPED, *DISTRIBUTED]  # tests/distributed/test_cli.py: the latter
    for line, (name, (_, description)) in zip(lines[: len(SHIPPED)], SHIPPED.items(), strict=True):
        assert line.removeprefix(name).strip() == description


@pytest.mark.heavy
def test_the_console_script_lists_the_derivations():
    script = Path(sys.executable).parent / "backprop-manual"
    if not script.exists():
        pytest.skip(f"no console script at {script}: pip install -e . installs it")
    run = subprocess.run([str(script), "derivations"], capture_output=True, text=True, timeout=120)
    assert (run.returncode, run.stderr) == (0, ""), run.stderr
    assert [line.split()[0] for line in run.stdout.splitlines()] == [*SHIPPED, *DISTRIBUTED]


# --derivation with --data: the derivation's tensor inputs read from a CSV (cli/columns.py), its parameters example()'s
REPO = Path(__file__).resolve().parents[2]
CELL = str(REPO / "data" / "cell_data.csv")
WDBC = str(REPO / "data" / "wdbc_30.csv")
IRIS = str(REPO / "data" / "iris.csv")


def tables(out: str) -> str:
    """The output from the first table on: what verify_chain and the training said, without the header lines."""
    return out[out.index("\ncpu ") :]


@pytest.mark.parametrize(
    "name, data, columns",
    [
        pytest.param("neuron", CELL, ["x=mean_area", "y=is_cancerous"], id="neuron-cell-data"),
        pytest.param("matrix", WDBC, ["X=mean_radius:worst_fractal_dimension", "y=is_cancerous"], id="matrix-30-range"),
        pytest.param(
            "softmax", IRIS, ["X=sepal_length,sepal_width,petal_length,petal_width", "y=species"], id="softmax"
        ),
    ],
)
def test_a_derivation_reads_its_inputs_from_the_columns_of_a_csv(capsys, tmp_path, name, data, columns):
    """The shipped examples read these very files: the CSV's rows give the same tables, gradient for gradient, as
    example()'s inputs; the header says what came from where, and the JSON verdict too."""
    args = ["verify", "--derivation", name, "--device", "cpu", "--epochs", "1"]
    assert main(args) == 0
    from_example = capsys.readouterr().out
    verdict = tmp_path / "verdict.json"
    flags = [x for c in columns for x in ("--columns", c)]
    assert main([*args, "--data", data, *flags, "--json", str(verdict)]) == 0
    out = capsys.readouterr().out
    assert tables(out) == tables(from_example)
    got = json.loads(verdict.read_text())["data"]
    assert (got["path"], got["rows"]) == (data, 569 if name != "softmax" else 150)
    assert f"data: {data}, {got['rows']} rows (" in out
    if name == "matrix":
        assert len(got["columns"]["X"]) == 30 and got["columns"]["X"][0] == "mean_radius"
        assert "X <- mean_radius ... worst_fractal_dimension (30)" in out


def test_an_input_is_read_from_the_column_of_its_own_name(capsys, tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("x,y,note\n" + "".join(f"{50 + 10 * i},{i % 2},{'row'}\n" for i in range(40)))
    assert main(["verify", "--derivation", "neuron", "--data", str(path), "--device", "cpu", "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert f"data: {path}, 40 rows (x <- x; y <- y)" in out and "cpu float32: all 4 gradients agree" in out
    assert "training, 80 steps in lockstep" in out


CONSTANT = '''"""z = c (X w) + b, c a constant the CSV does not give;  J = mean (sigmoid(z) - y)^2"""
import torch


def forward(w, b, X, y, c):
    z = c * (X @ w) + b
    sigma = torch.sigmoid(z)
    return {"z": z, "sigma": sigma, "loss": ((sigma - y) ** 2).mean()}


def backward(fwd, w, b, X, y, c):
    d_sigma = 2 * (fwd["sigma"] - y) / X.shape[0]
    d_z = fwd["sigma"] * (1 - fwd["sigma"]) * d_sigma
    return {"sigma": d_sigma, "z": d_z, "w": c * (X.T @ d_z), "b": d_z.sum()}


def example(dtype, device):
    X = torch.linspace(-1, 1, 12, dtype=dtype, device=device).reshape(6, 2)
    y = torch.tensor([0, 1, 1, 0, 1, 0], dtype=dtype, device=device)
    w = torch.tensor([0.5, -0.25], dtype=dtype, device=device)
    c = torch.tensor(3.0, dtype=dtype, device=device)
    return {"w": w, "b": torch.zeros((), dtype=dtype, device=device)}, {"X": X, "y": y, "c": c}
'''


def test_an_input_that_is_not_per_sample_data_stays_the_examples(capsys, tmp_path):
    mine = tmp_path / "constant.py"
    mine.write_text(CONSTANT)
    path = tmp_path / "rows.csv"
    path.write_text("f,g,label\n" + "".join(f"{i / 10},{1 - i / 7},{i % 2}\n" for i in range(9)))
    argv = ["verify", "--derivation", str(mine), "--data", str(path), "--columns", "X=f:g", "--columns", "y=label"]
    assert main([*argv, "--device", "cpu", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert f"data: {path}, 9 rows (X <- f, g; y <- label)" in out, out
    assert "all 4 gradients agree" in out


def test_a_csv_with_no_column_for_any_input_is_exit_2(capsys, tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,0\n")
    assert main(["verify", "--derivation", "neuron", "--data", str(path), "--device", "cpu"]) == 2
    assert f"none of neuron's inputs (x, y) has a column in {path}: name them with --columns" in capsys.readouterr().err


def test_the_json_verdict_says_data_null_without_a_csv(tmp_path):
    verdict = tmp_path / "verdict.json"
    assert main(["verify", "--derivation", "neuron", "--device", "cpu", "--epochs", "0", "--json", str(verdict)]) == 0
    assert json.loads(verdict.read_text())["data"] is None


@pytest.mark.parametrize(
    "csv, extra, message",
    [
        pytest.param("x,z\n1,0\n", [], "neuron's input 'y': {path} has no column 'y'; its columns: x, z; name its "
                     "column(s) with --columns y=COLUMN", id="an-input-without-a-column"),
        pytest.param("a,b\n1,0\nn/a,1\n", ["--columns", "x=a", "--columns", "y=b"],
                     "{path}: line 3, column 'a' (input 'x'): 'n/a' is not a finite number", id="not-a-number"),
        pytest.param("a,b\n1,0\ninf,1\n", ["--columns", "x=a", "--columns", "y=b"],
                     "{path}: line 3, column 'a' (input 'x'): 'inf' is not a finite number", id="infinite"),
        pytest.param("a,b\n1,0\n", ["--columns", "x=a,b", "--columns", "y=b"],
                     "input 'x' is [N] in the example; 2 column(s) (a, b) make [N, 2]", id="too-many-columns"),
        pytest.param("a,b\n1,0\n", ["--columns", "x=a", "--columns", "y=c"],
                     "--columns y=c: {path} has no column 'c'; its columns: a, b", id="no-such-column"),
        pytest.param("a,b\n1,0\n", ["--columns", "x=b:a", "--columns", "y=b"],
                     "--columns x=b:a: 'a' comes before 'b' in {path}", id="a-range-backwards"),
        pytest.param("a,b\n1,0\n", ["--columns", "w=a"], "--columns w=...: neuron has no input 'w'; its inputs: x, y",
                     id="a-parameter-is-not-an-input"),
        pytest.param("a,b\n1,0\n", ["--columns", "x"], "--columns 'x': give INPUT=COLUMN", id="no-equals"),
        pytest.param("x,y\n", [], "--data {path}: no rows under the header", id="no-rows"),
    ],
)  # fmt: skip
def test_a_csv_that_cannot_give_the_inputs_is_exit_2_in_one_line(capsys, tmp_path, csv, extra, message):
    path = tmp_path / "bad.csv"
    path.write_text(csv)
    argv = ["verify", "--derivation", "neuron", "--data", str(path), *extra, "--device", "cpu", "--epochs", "1"]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().splitlines() == [f"backprop-manual verify: error: {message.format(path=path)}"] or (
        message.format(path=path) in captured.err and len(captured.err.strip().splitlines()) == 1
    ), captured.err


def test_class_indices_must_be_whole_numbers(capsys, tmp_path):
    path = tmp_path / "iris.csv"
    path.write_text("a,b,c,d,species\n0.1,0.2,0.3,0.4,1.5\n0.1,0.2,0.3,0.4,0\n")
    argv = ["verify", "--derivation", "softmax", "--data", str(path), "--columns", "X=a:d", "--columns", "y=species"]
    assert main(argv) == 2
    assert "input 'y' is int64 in the example: its column(s) must hold whole numbers" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["verify", "--derivation", "neuron", "--columns", "x=a"], "--columns names the CSV's columns for a "
         "derivation's inputs: give it with --derivation and --data"),
        (["verify", "--columns", "x=a"], "give it with --derivation and --data"),
        (["verify", "--derivation", "tp-mlp", "--data", CELL], "--data applies to a derivation whose inputs are "
         "per-sample columns, not to tp-mlp"),
        (["train", "--derivation", "neuron", "--data", CELL], "--data applies to the lesson's neuron on a CSV, not to "
         "--derivation neuron"),
    ],
    ids=["columns-without-data", "columns-without-derivation", "distributed", "train"],
)  # fmt: skip
def test_data_and_columns_where_they_do_not_apply_are_exit_2(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
