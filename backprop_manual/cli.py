"""backprop-manual: verify every hand-derived gradient against autograd, on every device and dtype.

With no command, `backprop-manual [OPTIONS]` is `backprop-manual verify [OPTIONS]`: the bundled data, every
available device, float32 and float64. `backprop-manual verify --help` and `backprop-manual train --help` list
the options.

Exit codes: 0 all agree, 1 a mismatch, 2 bad input or usage (the message says what; nothing is written).
"""

import argparse
import math
import sys

from backprop_manual.commands import DTYPES, UsageError, run_train, run_verify
from backprop_manual.csv_input import CHUNK_ROWS, DataError
from backprop_manual.data import CELL_DATA
from backprop_manual.plot import MatplotlibMissing

COMMANDS = ("verify", "train")
SAMPLES_CAP = 1000  # rows a trajectory trains on by default: 20 epochs x 1000 = 20,000 steps, seconds on a CPU

VERIFY = f"""Verify the hand-derived gradients against autograd: every intermediate (dJ/dsigma, dJ/dz, dJ/dw, dJ/db)
of every sample of the CSV, read {CHUNK_ROWS:,} rows at a time (any length, in bounded memory), on each device and
dtype asked for. Then the trajectory: EPOCHS epochs of the manual per-sample loop against torch.nn + MSELoss +
optim.SGD, every step's w and b compared. A step of both loops takes ~0.2 ms on a CPU core (a million rows x 20
epochs: about an hour), so the trajectory trains on the first --trajectory-samples rows: 1000 by default (all
569 of the bundled data), `all` to mean every row. The gradients are always checked on every row. A progress
bar shows on a terminal, none in a pipe or a CI log.

Exit codes: 0 all agree, 1 a mismatch (the first divergent intermediate is named), 2 bad input or usage."""

TRAIN = """Train with the manual loop and with torch.nn + MSELoss + optim.SGD side by side, from the same (w0, b0), on
the first --samples rows of the CSV: 1000 by default (a step of both loops takes ~0.2 ms on a CPU core, so a
million rows x 20 epochs would take about an hour), `all` to mean every row. Prints the final w, b and J (mean
over the last epoch) of each loop and the largest step-wise |manual - autograd| of w and b. --plot draws J per
epoch of both loops and |manual - autograd| of w and b per step on a log scale, the steps where it is exactly 0
apart (needs the extra: pip install 'backprop-manual[plot]'). A progress bar shows on a terminal only.

Exit codes: 0 the loops agree at every step, 1 they part (the first epoch, sample, parameter is named), 2 bad input
or usage."""

CSV_HELP = """CSV: a header line, then one row per sample; comma-separated, UTF-8. The first column is the sample
index (as in the lesson's cell_data-2.csv) unless it is --feature or --target; then samples are numbered from 0."""


def positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return int(text)


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


def common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--data", default=str(CELL_DATA), metavar="CSV", help="default: the bundled cell data, 569 samples")
    p.add_argument(
        "--feature", default="mean_area", metavar="COL", help="the numeric feature column (default mean_area)"
    )
    p.add_argument(
        "--target", default="is_cancerous", metavar="COL", help="the 0/1 target column (default is_cancerous)"
    )
    p.add_argument("--w0", type=finite, default=2.0, help="w to check the gradients at and to train from (default 2)")
    p.add_argument("--b0", type=finite, default=-2.0, help="b, likewise (default -2)")
    p.add_argument("--epochs", type=positive_int, default=20, help="epochs of training (default 20)")
    p.add_argument("--lr", type=finite, default=1e-4, metavar="ETA", help="learning rate eta (default 1e-4)")
    return p


def parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    top = argparse.ArgumentParser(
        prog="backprop-manual",
        description=__doc__,
        formatter_class=raw,
        epilog="example: backprop-manual verify --device cpu --json verdict.json",
    )
    sub = top.add_subparsers(dest="command", metavar="{verify,train}")
    v = sub.add_parser(
        "verify",
        parents=[common()],
        formatter_class=raw,
        description=VERIFY,
        help="every intermediate of every sample, manual vs autograd, and the trajectory (the main job)",
        epilog=CSV_HELP + "\n\nexamples:\n  backprop-manual verify --device cpu --dtype float64\n"
        "  backprop-manual verify --data mine.csv --feature area --target label --json out/verdict.json",
    )
    v.add_argument("--device", choices=("cpu", "cuda", "all"), default="all", help="default: every available device")
    v.add_argument("--dtype", choices=(*DTYPES, "all"), default="all", help="default: float32 and float64")
    v.add_argument("--json", metavar="PATH", help="write the verdict there, as JSON, for CI (its folder must exist)")
    v.add_argument(
        "--trajectory-samples",
        type=count_or_all,
        default=SAMPLES_CAP,
        metavar="N|all",
        help=f"rows from the top of the CSV the trajectory trains on (default {SAMPLES_CAP})",
    )
    v.set_defaults(run=run_verify)
    t = sub.add_parser(
        "train",
        parents=[common()],
        formatter_class=raw,
        description=TRAIN,
        help="both loops side by side: final w, b, J, the largest step-wise difference, a figure",
        epilog=CSV_HELP + "\n\nexamples:\n  backprop-manual train --epochs 50 --plot training.png\n"
        "  backprop-manual train --data mine.csv --feature area --target label --lr 1e-3",
    )
    t.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="default: cpu")
    t.add_argument("--dtype", choices=tuple(DTYPES), default="float64", help="default: float64")
    t.add_argument(
        "--samples",
        type=count_or_all,
        default=SAMPLES_CAP,
        metavar="N|all",
        help=f"train on the first N rows of the CSV (default {SAMPLES_CAP}), or all of them",
    )
    t.add_argument("--plot", metavar="PNG", help="draw the training figure there (its folder must exist)")
    t.set_defaults(run=run_train)
    return top


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["verify", *argv]  # no command: the main job
    try:
        args = parser().parse_args(argv)
    except SystemExit as e:  # argparse has printed the help (0) or the usage and the error (2)
        return int(e.code or 0)
    try:
        return args.run(args)
    except (UsageError, DataError, MatplotlibMissing) as e:
        print(f"backprop-manual {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"backprop-manual {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
