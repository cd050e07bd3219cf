"""backprop-manual: verify every hand-derived gradient against autograd, on every device and dtype.

With no command, `backprop-manual [OPTIONS]` is `backprop-manual verify [OPTIONS]`: the bundled data, every
available device, float32 and float64. `backprop-manual verify --help` and `backprop-manual train --help` list
the options. `--derivation NAME|FILE.py` verifies (or trains) a shipped derivation or your own file instead of the
lesson's neuron on a CSV; `backprop-manual derivations` lists the shipped ones.

Exit codes: 0 all agree, 1 a mismatch, 2 bad input or usage (the message says what; nothing is written), 3 a bug
in backprop-manual itself (one line saying so; BACKPROP_MANUAL_DEBUG=1 shows the traceback), 130 interrupted,
141 stdout closed early (`backprop-manual | head -1`: quiet, not verified to the end).
"""

import argparse
import math
import os
import sys
import traceback
from pathlib import Path

from backprop_manual.cli import commands, derivations
from backprop_manual.cli.commands import MAX_TRAJECTORY_STEPS, check_values
from backprop_manual.cli.derivations import DEFAULT_LR, run_list
from backprop_manual.cli.plot import MatplotlibMissing
from backprop_manual.cli.usage import DTYPES, LOW, UsageError
from backprop_manual.neuron.data import CELL_DATA, CHUNK_ROWS, DataError

COMMANDS = ("verify", "train", "derivations")
SAMPLES_CAP = 1000  # rows a trajectory trains on by default: 20 epochs x 1000 = 20,000 steps, seconds on a CPU
# The neuron's options default to NOT_GIVEN so that one given with --derivation is refused, not silently ignored
# (not None: --samples all is None); settle() then puts in these defaults (the help says them), or None.
NOT_GIVEN = object()
NEURON_DEFAULTS = {
    "data": str(CELL_DATA),
    "feature": "mean_area",
    "target": "is_cancerous",
    "index_col": None,
    "w0": 2.0,
    "b0": -2.0,
    "lr": 1e-4,
    "trajectory_samples": SAMPLES_CAP,
    "samples": SAMPLES_CAP,
    "plot": None,
}
NEURON_ONLY = ("data", "feature", "target", "index_col", "w0", "b0", "trajectory_samples", "samples", "plot")
PIPE_CLOSED = 141  # 128 + SIGPIPE, what a shell reports for `yes | head -1`: not 0, the run did not finish
BUG = 3  # an unexpected exception: never 1, which means a real disagreement

VERIFY = f"""Verify the hand-derived gradients against autograd: every intermediate (dJ/dsigma, dJ/dz, dJ/dw, dJ/db)
of every sample of the CSV, read {CHUNK_ROWS:,} rows at a time (any length, in bounded memory), on each device and
dtype asked for. Then the trajectory: EPOCHS epochs of the manual per-sample loop against torch.nn + MSELoss +
optim.SGD, every step's w and b compared. A step of both loops takes ~0.2 ms on a CPU core (a million rows x 20
epochs: about an hour), so the trajectory trains on the first --trajectory-samples rows: 1000 by default (all
569 of the bundled data), `all` to mean every row. The gradients are always checked on every row. A progress
bar shows on a terminal, none in a pipe or a CI log.

Exit codes: 0 all agree, 1 a mismatch (the first divergent intermediate is named), 2 bad input or usage (also:
--device all without CUDA, a value that does not fit the dtype, a trajectory that overflows in both loops), 3 a
bug in backprop-manual."""

TRAIN = """Train with the manual loop and with torch.nn + MSELoss + optim.SGD side by side, from the same (w0, b0), on
the first --samples rows of the CSV: 1000 by default (a step of both loops takes ~0.2 ms on a CPU core, so a
million rows x 20 epochs would take about an hour), `all` to mean every row. Prints the final w, b and J (mean
over the last epoch) of each loop and the largest step-wise |manual - autograd| of w and b. --plot draws J per
epoch of both loops and |manual - autograd| of w and b per step on a log scale, the steps where it is exactly 0
apart (needs the extra: pip install 'backprop-manual[plot]'). A progress bar shows on a terminal only.

Exit codes: 0 the loops agree at every step, 1 they part (the first epoch, sample, parameter is named), 2 bad input
or usage, 3 a bug in backprop-manual."""

DERIVATION_HELP = f"""--derivation NAME|FILE.py: instead of the neuron on a CSV, a shipped derivation (backprop-manual
derivations lists them) or your own file defining forward, backward and example(dtype, device), optionally
PER_SAMPLE = True and LR (docs/your-own-derivation.md). Its example gives the parameters and the data, so
--feature, --target, --index-col, --w0, --b0 and --trajectory-samples (verify), --data, --samples and --plot (train)
are refused with it. verify --data CSV reads its tensor inputs from a CSV instead, one row per sample: each from the
column of its own name, or from those --columns INPUT=COLS names (several gathered into [N, k]); the parameters stay
example()'s (docs/cli.md).
Training: --epochs (default 20) epochs of SGD, a full-batch step each (one per sample with PER_SAMPLE), at --lr,
else the module's LR, else {DEFAULT_LR:g}."""

LIST = "The shipped derivations, one a line: the name (for --derivation), then what it derives."

CSV_HELP = """CSV: a header line, then one row per sample; comma-separated, UTF-8. As in pandas, the first column is
the sample index when its header cell is empty (as pandas' to_csv writes it, like the bundled data), or the column
--index-col names; otherwise samples are numbered from 0."""


def positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return int(text)


def epochs(text: str) -> int:
    """Each epoch is at least one training step, all of them kept: bounded before any work (commands.check_steps).
    0 skips the training, with --derivation only (settle)."""
    if text.strip() == "0":
        return 0
    n = positive_int(text)
    if n > MAX_TRAJECTORY_STEPS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_TRAJECTORY_STEPS:,}, not {text!r}")
    return n


def count_or_all(text: str) -> int | None:
    return None if text == "all" else positive_int(text)


def finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text!r}")
    return value


def seconds(text: str) -> float:
    value = finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, not {text!r}")
    return value


def learning_rate(text: str) -> float:
    value = finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, not {text!r}")
    return value


def common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--data", default=NOT_GIVEN, metavar="CSV", help="default: the bundled cell data, 569 samples")
    p.add_argument("--feature", default=NOT_GIVEN, metavar="COL", help="the numeric feature column (default mean_area)")
    p.add_argument("--target", default=NOT_GIVEN, metavar="COL", help="the 0/1 target column (default is_cancerous)")
    p.add_argument(
        "--index-col",
        default=NOT_GIVEN,
        metavar="COL",
        help="the column of the samples' ids (default: the first, if its header cell is empty; else 0, 1, ...)",
    )
    p.add_argument(
        "--w0", type=finite, default=NOT_GIVEN, help="w to check the gradients at and to train from (default 2)"
    )
    p.add_argument("--b0", type=finite, default=NOT_GIVEN, help="b, likewise (default -2)")
    p.add_argument("--epochs", type=epochs, default=20, help="epochs of training (default 20)")
    p.add_argument(
        "--lr",
        type=learning_rate,
        default=NOT_GIVEN,
        metavar="ETA",
        help=f"learning rate eta (default 1e-4; --derivation: LR, else {DEFAULT_LR:g})",
    )
    p.add_argument("--derivation", metavar="NAME|FILE.py", help="a shipped derivation or your own file (see below)")
    return p


def settle(args: argparse.Namespace) -> None:
    """The neuron's defaults where it is the neuron; with --derivation, a UsageError for any of its options given.
    Then the numbers that must fit the dtypes asked for."""
    derivation = getattr(args, "derivation", None)
    # --data with --derivation: its inputs read from a CSV (verify only; cli/columns.py)
    refused = [k for k in NEURON_ONLY if not (k == "data" and args.command == "verify")]
    given = [f"--{k.replace('_', '-')}" for k in refused if getattr(args, k, NOT_GIVEN) is not NOT_GIVEN]
    if getattr(args, "columns", None) and (derivation is None or getattr(args, "data", NOT_GIVEN) is NOT_GIVEN):
        raise UsageError(
            "--columns names the CSV's columns for a derivation's inputs: give it with --derivation and --data"
        )
    if derivation is not None and given:
        raise UsageError(
            f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} to the lesson's neuron on a CSV, not to "
            f"--derivation {derivation}: its example(dtype, device) gives the parameters and the data"
        )
    if getattr(args, "world_size", None) is not None and derivation is None:
        raise UsageError("--world-size applies to a distributed derivation (--derivation tp-mlp, ...), not the neuron")
    if getattr(args, "timeout", None) is not None and derivation is None:
        raise UsageError("--timeout applies to a distributed derivation (--derivation tp-mlp, ...), not the neuron")
    for k, v in list(vars(args).items()):
        if v is NOT_GIVEN:
            setattr(args, k, NEURON_DEFAULTS[k] if derivation is None else None)
    if derivation is None and getattr(args, "dtype", None) in LOW:
        raise UsageError(f"--dtype {args.dtype} is for --derivation; the neuron's CSV runs in float32 or float64")
    if derivation is None and getattr(args, "epochs", None) == 0:
        raise UsageError("--epochs 0 (no training) is for --derivation; the neuron's trajectory needs at least 1")
    if args.command in ("verify", "train"):
        check_values(args)


def parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    top = argparse.ArgumentParser(
        prog="backprop-manual",
        description=__doc__,
        formatter_class=raw,
        epilog="example: backprop-manual verify --device cpu --json verdict.json",
    )
    sub = top.add_subparsers(dest="command", metavar="{verify,train,derivations}")
    v = sub.add_parser(
        "verify",
        parents=[common()],
        formatter_class=raw,
        description=VERIFY,
        help="every intermediate of every sample, manual vs autograd, and the trajectory (the main job)",
        epilog=f"{CSV_HELP}\n\n{DERIVATION_HELP}\n\nexamples:\n  backprop-manual verify --device cpu --dtype float64\n"
        "  backprop-manual verify --data mine.csv --feature area --target label --json out/verdict.json\n"
        "  backprop-manual verify --derivation softmax\n  backprop-manual verify --derivation mine.py --device cpu",
    )
    v.add_argument(
        "--device",
        choices=("cpu", "cuda", "all"),
        help="default: every available device (CUDA, if absent, is reported as not verified); all: cpu and cuda, "
        "exit 2 without CUDA",
    )
    v.add_argument(
        "--dtype",
        choices=(*DTYPES, "all", *LOW),
        default="all",
        help="default: all, float32 and float64; bfloat16, float16: with --derivation",
    )
    v.add_argument(
        "--strict",
        action="store_true",
        help="with --derivation: a gradient right in float64 but less accurate than autograd in its dtype fails",
    )
    v.add_argument("--json", metavar="PATH", help="write the verdict there, as JSON, for CI (its folder must exist)")
    v.add_argument(
        "--columns",
        action="append",
        metavar="INPUT=COLS",
        help="with --derivation and --data: the CSV column(s) an input is read from, when not its own name: "
        "x=mean_area, X=col1,col2,... or X=first:last (a range of the file's columns); repeat for each input",
    )
    v.add_argument(
        "--trajectory-samples",
        type=count_or_all,
        default=NOT_GIVEN,
        metavar="N|all",
        help=f"rows from the top of the CSV the trajectory trains on (default {SAMPLES_CAP})",
    )
    v.add_argument(
        "--world-size", type=positive_int, metavar="N", help="ranks for a distributed derivation (default 2)"
    )
    v.add_argument(
        "--timeout",
        type=seconds,
        metavar="S",
        help="a distributed derivation's ranks must report within S seconds once up, or the run ends with exit 2 "
        "naming the rank (default 60)",
    )
    v.set_defaults(run=run_verify)
    t = sub.add_parser(
        "train",
        parents=[common()],
        formatter_class=raw,
        description=TRAIN,
        help="both loops side by side: final w, b, J, the largest step-wise difference, a figure",
        epilog=f"{CSV_HELP}\n\n{DERIVATION_HELP}\n\nexamples:\n"
        "  backprop-manual train --epochs 50 --plot training.png\n"
        "  backprop-manual train --data mine.csv --feature area --target label --lr 1e-3\n"
        "  backprop-manual train --derivation hidden-tanh --epochs 100",
    )
    t.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="default: cpu")
    t.add_argument("--dtype", choices=tuple(DTYPES), default="float64", help="default: float64")
    t.add_argument(
        "--samples",
        type=count_or_all,
        default=NOT_GIVEN,
        metavar="N|all",
        help=f"train on the first N rows of the CSV (default {SAMPLES_CAP}), or all of them",
    )
    t.add_argument(
        "--plot",
        default=NOT_GIVEN,
        metavar="PNG",
        help="draw the neuron's training figure there (its folder must exist)",
    )
    t.set_defaults(run=run_train)
    d = sub.add_parser("derivations", description=LIST, help="list the shipped derivations, for --derivation NAME")
    d.set_defaults(run=run_list)
    return top


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["verify", *argv]  # no command: the main job
    try:
        code = run(argv)
        sys.stdout.flush()  # a closed pipe is found here, not by the interpreter at exit (with a traceback)
        return code
    except BrokenPipeError:  # `backprop-manual | head -1`: the reader has gone; end quietly, not verified to the end
        quiet_stdout()
        return PIPE_CLOSED


NUMBER_OPTIONS = ("--w0", "--b0", "--lr")


def joined(argv: list[str]) -> list[str]:
    """--b0 -2e3 as --b0=-2e3: argparse takes -2 or -2.5 for a negative number but -2e3 (or -inf) for an option, and
    would say "expected one argument". Only what float() reads is joined; anything else reaches argparse as it is."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] in NUMBER_OPTIONS and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            try:
                float(argv[i + 1])
            except ValueError:
                pass
            else:
                out.append(f"{argv[i]}={argv[i + 1]}")
                i += 2
                continue
        out.append(argv[i])
        i += 1
    return out


def run_verify(args: argparse.Namespace) -> int:
    """`verify`: the neuron on a CSV (commands.py), or --derivation (derivations.py)."""
    return (commands if args.derivation is None else derivations).run_verify(args)


def run_train(args: argparse.Namespace) -> int:
    """`train`: the neuron on a CSV (commands.py), or --derivation (derivations.py)."""
    return (commands if args.derivation is None else derivations).run_train(args)


def run(argv: list[str]) -> int:
    command = f"backprop-manual {argv[0] if argv[0] in COMMANDS else ''}".rstrip()
    try:
        args = parser().parse_args(joined(argv))
    except SystemExit as e:  # argparse has printed the help (0) or the usage and the error (2)
        return int(e.code or 0)
    try:
        settle(args)
        return args.run(args)
    except (UsageError, DataError, MatplotlibMissing) as e:
        print(f"{command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        raise
    except Exception as e:
        if os.environ.get("BACKPROP_MANUAL_DEBUG", "") not in ("", "0"):
            raise
        print(f"{command}: {bug(e)}", file=sys.stderr)
        return BUG


def bug(e: Exception) -> str:
    """One line: what was raised, where, that it is a bug here and where to report it."""
    frames = traceback.extract_tb(e.__traceback__)
    at = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    text = str(e).strip().splitlines()
    return (
        f"internal error: {type(e).__name__}{': ' + text[0] if text else ''}{at}. This is a bug in backprop-manual, "
        "not in your gradients or input: report it to the backprop_manual project (README.md) with the command "
        "line and this message (BACKPROP_MANUAL_DEBUG=1 shows the traceback)"
    )


def quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush does not fail again (Python's recipe,
    docs.python.org/3/library/signal.html#note-on-sigpipe)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # stdout is not a file (a test's capture): nothing to flush
        pass


if __name__ == "__main__":
    sys.exit(main())
