"""Bad input: a clear message on stderr, exit code 2, no traceback, and nothing written or overwritten.

One case per kind of bad input; each asserts the exit code and the message. Every verify case also passes
--json to an existing verdict and checks that it is left as it was.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from backprop_manual.cli import commands
from backprop_manual.cli.main import main
from backprop_manual.neuron.data import DataError, load_cell_data

ROOT = Path(__file__).resolve().parents[1]
HEADER = ",mean_area,is_cancerous\n"
ROWS = "0,1.001,1\n1,1.326,0\n"
EARLIER = "an earlier verdict, to be kept\n"


def write(tmp_path: Path, content: str | bytes) -> Path:
    path = tmp_path / "cells.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def verify(tmp_path: Path, capsys, data: Path | str, *options: str) -> tuple[int, str, str]:
    """verify on one device and dtype, --json onto an earlier verdict that must survive."""
    earlier = tmp_path / "verdict.json"
    earlier.write_text(EARLIER)
    argv = ["verify", "--data", str(data), "--device", "cpu", "--dtype", "float64", "--epochs", "1"]
    code = main([*argv, "--json", str(earlier), *options])
    out, err = capsys.readouterr()
    assert earlier.read_text() == EARLIER, "a bad run overwrote the earlier verdict"
    assert "Traceback" not in err
    return code, out, err


# (id, file content, extra options, what the message must say); {path} is the file's path
DATA_CASES = [
    ("empty-file", "", [], "{path} is empty: expected a header line naming the columns, then one row per sample"),
    ("only-blank-lines", "\n\n\n", [], "{path} is empty"),
    ("header-with-no-rows", HEADER, [], "{path} has a header ('', 'mean_area', 'is_cancerous') but no rows"),
    (
        "misspelled-column",
        HEADER + ROWS,
        ["--feature", "mean_aera"],
        "{path} has no column 'mean_aera' (--feature) (did you mean 'mean_area'?); "
        "its columns are: '', 'mean_area', 'is_cancerous'",
    ),
    (
        "missing-column",
        ",mean_area,label\n0,1.001,1\n",
        [],
        "{path} has no column 'is_cancerous' (--target); its columns are: '', 'mean_area', 'label'",
    ),
    (
        "feature-is-target",
        HEADER + ROWS,
        ["--feature", "is_cancerous"],
        "--feature and --target are both 'is_cancerous': the target must be another column",
    ),
    (
        "non-numeric-value",
        HEADER + ROWS + "2,large,1\n",
        [],
        "{path}: row 3 (index 2), column 'mean_area' is 'large': not a number; every value must be a finite number",
    ),
    ("empty-cell", HEADER + ROWS + "2,,1\n", [], "{path}: row 3 (index 2), column 'mean_area' is empty"),
    ("nan", HEADER + ROWS + "2,NaN,1\n", [], "{path}: row 3 (index 2), column 'mean_area' is 'NaN': not finite"),
    ("inf", HEADER + "0,inf,1\n", [], "{path}: row 1 (index 0), column 'mean_area' is 'inf': not finite"),
    ("overflow-to-inf", HEADER + "0,1e400,1\n", [], "{path}: row 1 (index 0), column 'mean_area' is '1e400': not a"),
    (
        "target-outside-0-1",
        HEADER + ROWS + "7,1.5,2\n",
        [],
        "{path}: row 3 (index 7), column 'is_cancerous' is '2': the target must be 0 or 1",
    ),
    ("target-not-numeric", HEADER + "0,1.5,yes\n", [], "row 1 (index 0), column 'is_cancerous' is 'yes': not a number"),
    (
        "semicolon-delimited",
        ";mean_area;is_cancerous\n0;1,001;1\n",
        [],
        "{path} looks semicolon-delimited (header ';mean_area;is_cancerous'): this tool reads comma-separated "
        "files; convert it, e.g. pandas.read_csv(path, sep=';').to_csv(new_path, index=False)",
    ),
    (
        "duplicate-column-names",
        ",mean_area,mean_area,is_cancerous\n0,1.0,2.0,1\n",
        [],
        "{path}: column names repeat: 'mean_area'; each column needs its own name",
    ),
    (
        "non-utf-8",
        (HEADER + ROWS).encode() + "2,1.5,café\n".encode("latin-1"),
        [],
        "{path} is not UTF-8 text: byte 0xe9 on line 4, column 10; save it as UTF-8",
    ),
    (
        "row-longer-than-header",
        HEADER + ROWS + "2,1.5,0,9\n",
        [],
        "{path} is not a well-formed CSV: Error tokenizing data. C error: Expected 3 fields in line 4, saw 4",
    ),
    (
        "index-not-a-whole-number",
        HEADER + "0.5,1.5,0\n",
        [],
        "{path}: row 1, the first column (the sample index) is '0.5': not a whole number",
    ),
]


@pytest.mark.parametrize("content, options, message", [pytest.param(*c[1:], id=c[0]) for c in DATA_CASES])
def test_bad_data_is_exit_2_with_the_message(tmp_path, capsys, content, options, message):
    path = write(tmp_path, content)
    code, _, err = verify(tmp_path, capsys, path, *options)
    assert code == 2
    assert message.format(path=path) in err


def test_non_utf_8_far_into_the_file_is_placed_exactly(tmp_path, capsys):
    rows = "".join(f"{i},1.5,0\n" for i in range(150_000))  # ~1.6 MB: past the first 1 MB block read
    path = write(tmp_path, (HEADER + rows).encode() + "150000,1.5,0\n150001,caf\xe9,0\n".encode("latin-1"))
    code, _, err = verify(tmp_path, capsys, path)
    assert code == 2 and f"{path} is not UTF-8 text: byte 0xe9 on line 150003, column 11" in err


def test_missing_path(tmp_path, capsys):
    code, _, err = verify(tmp_path, capsys, tmp_path / "no_such.csv")
    assert (code, err) == (2, f"backprop-manual verify: error: {tmp_path / 'no_such.csv'}: no such file\n")


def test_a_directory(tmp_path, capsys):
    code, _, err = verify(tmp_path, capsys, tmp_path)
    assert code == 2 and f"{tmp_path} is a directory, not a CSV file" in err


def test_json_into_a_folder_that_does_not_exist(tmp_path, capsys):
    target = tmp_path / "no" / "such" / "verdict.json"
    assert main(["verify", "--device", "cpu", "--json", str(target)]) == 2
    out, err = capsys.readouterr()
    assert f"--json {target}: the folder {target.parent} does not exist; create it first" in err
    assert out == "" and not target.parent.exists()


def test_json_onto_a_directory(tmp_path, capsys):
    assert main(["verify", "--device", "cpu", "--json", str(tmp_path)]) == 2
    assert f"--json {tmp_path} is a directory: give a file name" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: --device cuda is not an error here")
@pytest.mark.parametrize("command", ["verify", "train"])
def test_device_cuda_without_a_gpu(tmp_path, capsys, command):
    assert main([command, "--device", "cuda"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == (
        f"backprop-manual {command}: error: --device cuda asked for, but torch.cuda.is_available() is False "
        "(no GPU, or a CPU build of torch)\n"
    )


# (id, options, what argparse's message must say)
OPTION_CASES = [
    ("epochs-negative", ["--epochs", "-3"], "argument --epochs: must be a whole number of at least 1, not '-3'"),
    ("epochs-fraction", ["--epochs", "2.5"], "argument --epochs: must be a whole number of at least 1, not '2.5'"),
    ("lr-not-a-number", ["--lr", "fast"], "argument --lr: 'fast' is not a number"),
    ("lr-nan", ["--lr", "nan"], "argument --lr: must be a finite number, not 'nan'"),
    ("lr-negative", ["--lr", "-1"], "argument --lr: must be a finite number > 0, not '-1'"),  # was SGD's traceback, 1
    ("lr-zero", ["--lr", "0"], "argument --lr: must be a finite number > 0, not '0'"),
    (
        "epochs-gigantic",
        ["--epochs", str(10**12)],
        "argument --epochs: must be at most 50,000,000, not '1000000000000'",
    ),
    ("w0-not-a-number", ["--w0", "two"], "argument --w0: 'two' is not a number"),
    ("trajectory-samples-zero", ["--trajectory-samples", "0"], "argument --trajectory-samples: must be a whole"),
    ("unknown-dtype", ["--dtype", "float8"], "argument --dtype: invalid choice: 'float8'"),
]


@pytest.mark.parametrize(
    "options, message",
    [
        pytest.param(["--epochs", "0"], "--epochs 0 (no training) is for --derivation", id="epochs-zero"),
        pytest.param(["--dtype", "float16"], "--dtype float16 is for --derivation", id="float16"),
        pytest.param(["--dtype", "bfloat16"], "--dtype bfloat16 is for --derivation", id="bfloat16"),
    ],
)
def test_what_only_derivations_take_is_exit_2_for_the_neurons_csv(tmp_path, capsys, options, message):
    code, out, err = verify(tmp_path, capsys, ROOT / "data" / "cell_data.csv", *options)
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert out == ""


@pytest.mark.parametrize("options, message", [pytest.param(*c[1:], id=c[0]) for c in OPTION_CASES])
def test_bad_option_is_exit_2_with_the_message(tmp_path, capsys, options, message):
    code, out, err = verify(tmp_path, capsys, ROOT / "data" / "cell_data.csv", *options)
    assert code == 2 and message in err and err.startswith("usage: backprop-manual verify")
    assert out == ""


TRAIN_CASES = [
    ("samples-zero", ["--samples", "0"], "argument --samples: must be a whole number of at least 1, not '0'"),
    ("lr-negative", ["--lr", "-1"], "argument --lr: must be a finite number > 0, not '-1'"),
    ("w0-does-not-fit", ["--w0", "1e300", "--dtype", "float32"], "error: --w0 1e300 does not fit float32 (max 3.4e38)"),
    ("steps-over-the-bound", ["--epochs", "10000000"], "error: --epochs 10000000 x 569 rows = 5.69e+09 training steps"),
    ("epochs-negative", ["--epochs", "-1"], "argument --epochs: must be a whole number of at least 1, not '-1'"),
    ("lr-not-a-number", ["--lr", "1e-4x"], "argument --lr: '1e-4x' is not a number"),
]


@pytest.mark.parametrize("options, message", [pytest.param(*c[1:], id=c[0]) for c in TRAIN_CASES])
def test_bad_train_option_is_exit_2_with_the_message(capsys, options, message):
    assert main(["train", *options]) == 2
    assert message in capsys.readouterr().err


def test_train_on_bad_data_is_exit_2_and_draws_nothing(tmp_path, capsys):
    figure = tmp_path / "training.png"
    figure.write_bytes(b"an earlier figure")
    path = write(tmp_path, HEADER + ROWS + "2,large,1\n")
    assert main(["train", "--data", str(path), "--plot", str(figure)]) == 2
    assert "row 3 (index 2), column 'mean_area' is 'large': not a number" in capsys.readouterr().err
    assert figure.read_bytes() == b"an earlier figure"


def test_plot_into_a_folder_that_does_not_exist(tmp_path, capsys):
    target = tmp_path / "figures" / "training.png"
    assert main(["train", "--plot", str(target)]) == 2
    assert f"--plot {target}: the folder {target.parent} does not exist; create it first" in capsys.readouterr().err


OVERFLOWS = "x,y\n10,1\n10,1\n"  # z = w·x + b = 0 at the start, then w += lr · 2.5: past float64's max, in both loops

# What a CI user hits that the cases above do not: (id, file content or None for the bundled data, options, exit
# code, the one line on stderr, {path} the file's; "" for exit 0). Every case: no traceback; every exit 2 leaves
# --json as it was.
CI_CASES = [
    ("excel-export-bom-crlf", "\ufeffmean_area,is_cancerous\r\n1.001,1\r\n1.326,0\r\n", [], 0, ""),
    ("target-as-0.0-and-1.0", ",mean_area,is_cancerous\n0,1.001,1.0\n1,1.326,0.0\n", [], 0, ""),
    ("no-index-column", "height,mean_area,is_cancerous\n1.7,1.001,1\n1.8,1.326,0\n", [], 0, ""),  # was exit 2
    ("index-col-named", "id,mean_area,is_cancerous\n7,1.001,1\n9,1.326,0\n", ["--index-col", "id"], 0, ""),
    (
        "index-col-missing",
        "age,mean_area,is_cancerous\n30,1.001,1\n",
        ["--index-col", "id"],
        2,
        "{path} has no column 'id' (--index-col); its columns are: 'age', 'mean_area', 'is_cancerous'",
    ),
    (
        "index-col-not-whole",
        "age,mean_area,is_cancerous\n30,1.001,1\n30.5,1.326,0\n",
        ["--index-col", "age"],
        2,
        "{path}: row 2, column 'age' (--index-col) is '30.5': not a whole number",
    ),
    (
        "lr-does-not-fit-float32",  # was exit 1, RuntimeError: value cannot be converted to type float
        None,
        ["--lr", "1e300"],
        2,
        "--lr 1e300 does not fit float32 (max 3.4e38): use --dtype float64",
    ),
    (
        "w0-does-not-fit-float32",  # was exit 0, "max |diff| w nan ...: ok", "all agree"
        None,
        ["--w0", "1e300", "--dtype", "float32"],
        2,
        "--w0 1e300 does not fit float32 (max 3.4e38): use --dtype float64",
    ),
    (
        "b0-does-not-fit-float32",
        None,
        ["--b0=-1e39", "--dtype", "float32"],
        2,
        "--b0 -1e39 does not fit float32 (max 3.4e38): use --dtype float64",
    ),
    (
        "lr-is-0-in-float32",
        None,
        ["--lr", "1e-50"],
        2,
        "--lr 1e-50 is 0 in float32 (smallest 1.4e-45): no step would move w or b",
    ),
    (
        "epochs-times-rows-over-the-bound",
        None,
        ["--epochs", "1000000"],
        2,
        "--epochs 1000000 x 569 rows = 5.69e+08 training steps, over the 5e+07 whose trajectories are kept in "
        "memory: fewer --epochs or a smaller --trajectory-samples",
    ),
    (
        "trajectory-overflows-in-both-loops",  # finite inputs, inf in both loops: not verified, neither 0 nor 1
        OVERFLOWS,
        ["--feature", "x", "--target", "y", "--w0", "1.5e307", "--b0=-1.5e308", "--lr", "1e308", "--dtype", "float64"],
        2,
        "not verified: on cpu float64 both loops overflowed at epoch 0, sample 0 (w inf in both), from --w0 1.5e307, "
        "--b0 -1.5e308, --lr 1e308: a smaller --lr, --w0 or --b0 keeps the training in range",
    ),
    (
        "index-col-with-derivation",
        None,
        ["--derivation", "neuron", "--index-col", "id"],
        2,
        "--index-col applies to the lesson's neuron on a CSV, not to --derivation neuron: its example(dtype, device) "
        "gives the parameters and the data",
    ),
    (
        "lr-does-not-fit-with-derivation",  # was "logistic: the verifier failed on it, ...: RuntimeError: value ..."
        None,
        ["--derivation", "logistic", "--lr", "1e300"],
        2,
        "--lr 1e300 does not fit float32 (max 3.4e38): use --dtype float64",
    ),
]


@pytest.mark.parametrize("content, options, code, message", [pytest.param(*c[1:], id=c[0]) for c in CI_CASES])
def test_what_a_ci_user_hits(tmp_path, capsys, content, options, code, message):
    data = None if content is None else write(tmp_path, content)  # None: the bundled data, no --data given
    earlier = tmp_path / "verdict.json"
    earlier.write_text(EARLIER)
    argv = ["verify", *(["--data", str(data)] if data else []), "--device", "cpu", "--epochs", "1"]
    got = main([*argv, "--json", str(earlier), *options])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert (got, err) == (code, f"backprop-manual verify: error: {message.format(path=data)}\n" if code else ""), out
    if code == 0:
        assert out.endswith("\nall agree\n") and json.loads(earlier.read_text())["status"] == "ok"
    else:
        assert earlier.read_text() == EARLIER, "an exit 2 overwrote the earlier verdict"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: --device all is not an error here")
def test_device_all_without_a_gpu_is_a_usage_error_as_in_pytest(tmp_path, capsys):
    """Was exit 0, all agree, on the CPU alone. Only the default (no --device) means every available device."""
    assert main(["verify", "--device", "all"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == (
        "backprop-manual verify: error: --device all asked for, but torch.cuda.is_available() is False (no GPU, or a "
        "CPU build of torch): leave --device out to verify every available device\n"
    )


def test_ctrl_c_in_the_middle_is_130_and_leaves_the_earlier_verdict(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # as if Ctrl-C came while the trajectory trains, after the gradients were checked

    monkeypatch.setattr(commands, "side_by_side", interrupted)
    earlier = tmp_path / "verdict.json"
    earlier.write_text(EARLIER)
    assert main(["verify", "--device", "cpu", "--epochs", "1", "--json", str(earlier)]) == 130
    assert capsys.readouterr().err == "backprop-manual verify: interrupted\n"
    assert earlier.read_text() == EARLIER


def boom(*args, **kwargs):
    raise RuntimeError("boom")


def test_an_internal_error_is_3_and_one_line_saying_it_is_a_bug_never_1(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(commands, "compare_trajectories", boom)
    monkeypatch.delenv("BACKPROP_MANUAL_DEBUG", raising=False)
    earlier = tmp_path / "verdict.json"
    earlier.write_text(EARLIER)
    assert main(["verify", "--device", "cpu", "--epochs", "1", "--json", str(earlier)]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("backprop-manual verify: internal error: RuntimeError: boom at test_bad_input.py:")
    assert err.endswith(
        ". This is a bug in backprop-manual, not in your gradients or input: report it to the backprop_manual project "
        "(README.md) with the command line and this message (BACKPROP_MANUAL_DEBUG=1 shows the traceback)\n"
    )
    assert earlier.read_text() == EARLIER


def test_backprop_manual_debug_re_raises_for_developers(monkeypatch):
    monkeypatch.setattr(commands, "compare_trajectories", boom)
    monkeypatch.setenv("BACKPROP_MANUAL_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        main(["verify", "--device", "cpu", "--dtype", "float64", "--epochs", "1"])


@pytest.mark.heavy
def test_a_closed_pipe_ends_quietly_with_141(tmp_path):
    """`backprop-manual | head -1`: the reader leaves after one line; no BrokenPipeError traceback, exit 141
    (128 + SIGPIPE, as a shell reports `yes | head -1`), not 0: the run did not finish."""
    run = subprocess.Popen(
        [sys.executable, "-m", "backprop_manual", "--device", "cpu", "--epochs", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},  # the first line comes at once
    )
    assert run.stdout.readline().startswith(b"backprop_manual: hand-derived gradients vs autograd")
    run.stdout.close()  # head -1 exits
    _, err = run.communicate(timeout=120)
    assert (run.returncode, err.decode()) == (141, "")


def test_unknown_command(capsys):
    assert main(["verfiy"]) == 2
    assert "invalid choice: 'verfiy'" in capsys.readouterr().err


@pytest.mark.heavy
def test_through_the_module_entry_point_no_traceback(tmp_path):
    path = write(tmp_path, HEADER + ROWS + "2,large,1\n")
    run = subprocess.run(
        [sys.executable, "-m", "backprop_manual", "--data", str(path), "--device", "cpu"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert run.returncode == 2
    assert run.stderr == (
        f"backprop-manual verify: error: {path}: row 3 (index 2), column 'mean_area' is 'large': not a number; "
        "every value must be a finite number\n"
    )


def test_the_library_raises_data_error_a_value_error(tmp_path):
    path = write(tmp_path, HEADER + "0,1.5,2\n")
    with pytest.raises(DataError, match=r"row 1 \(index 0\), column 'is_cancerous' is '2'") as caught:
        load_cell_data(path)
    assert isinstance(caught.value, ValueError)
