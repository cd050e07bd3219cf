"""What `backprop-manual verify` and `backprop-manual train` do once their arguments are parsed.

Everything a user can get wrong is checked before any work or any output file: a bad run writes nothing.
"""

import argparse
from pathlib import Path

import torch

from backprop_manual import csv_input, plot, verdict
from backprop_manual.data import samples
from backprop_manual.progress import bar
from backprop_manual.streaming import StreamedVerification
from backprop_manual.training import side_by_side
from backprop_manual.trajectory import compare_trajectories
from backprop_manual.verify import dtype_name

DTYPES = {"float32": torch.float32, "float64": torch.float64}


class UsageError(Exception):
    """A request that cannot be carried out as asked: exit code 2, the message, no traceback."""


def devices(asked: str) -> list[str]:
    if asked == "cuda" and not torch.cuda.is_available():
        raise UsageError(
            "--device cuda asked for, but torch.cuda.is_available() is False (no GPU, or a CPU build of torch)"
        )
    return (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]) if asked == "all" else [asked]


def check_output(path: str | None, option: str) -> None:
    if path is None:
        return
    if Path(path).is_dir():
        raise UsageError(f"{option} {path} is a directory: give a file name")
    if not Path(path).parent.is_dir():
        raise UsageError(f"{option} {path}: the folder {Path(path).parent} does not exist; create it first")


def run_verify(args: argparse.Namespace) -> int:
    if args.derivation is not None:
        return derivation_commands().run_verify(args)
    on = devices(args.device)
    check_output(args.json, "--json")
    csv_input.header(args.data, args.feature, args.target)
    print(
        f"backprop_manual: hand-derived gradients vs autograd, {args.data} ({args.feature} -> {args.target}), "
        f"w = {args.w0:g}, b = {args.b0:g}; trajectory: {args.epochs} epochs, eta = {args.lr:g}, "
        "manual loop vs torch.nn + MSELoss + optim.SGD"
    )
    if args.device == "all" and "cuda" not in on:
        print("cuda: not available on this machine (torch.cuda.is_available() is False): not verified")
    dtypes = list(DTYPES) if args.dtype == "all" else [args.dtype]
    streams, first = stream(args, [(d, n) for d in on for n in dtypes])
    runs = []
    for (d, n), s in streams.items():
        data = samples(first, dtype=DTYPES[n], device=d)
        run = side_by_side(s.w, s.b, data.X, data.y, eta=args.lr, epochs=args.epochs, desc=f"trajectory {d} {n}")
        trajectory = compare_trajectories(run.manual.trajectory, run.reference.trajectory)
        v = s.verification()
        print(f"\n{d} {n}: {s.samples} samples")
        print(v.table() if v.ok else v.message())
        if len(data.ids) < s.samples:
            print(f"  trajectory on the first {len(data.ids)} of the {s.samples} samples (--trajectory-samples)")
        print(f"  {trajectory.summary()}")
        runs.append(verdict.run(d, n, s, v, trajectory, data.ids))
    result = verdict.verdict(context(args, on, s.samples, len(data.ids)), runs)
    print(f"\n{'all agree' if result['ok'] else 'MISMATCH: see the tables above'}")
    if args.json:
        verdict.write(args.json, result)
    return result["exit_code"]


def stream(args: argparse.Namespace, combos: list[tuple[str, str]]) -> tuple[dict, csv_input.Chunk]:
    """One pass over the file: every chunk verified on each (device, dtype); the rows the trajectory trains on."""
    streams = {
        (d, n): StreamedVerification(*(torch.tensor(p, dtype=DTYPES[n], device=d) for p in (args.w0, args.b0)))
        for d, n in combos
    }
    wanted, first = args.trajectory_samples, []
    with bar(csv_input.count_lines(args.data) - 1, "verifying gradients", " rows") as progress:
        for chunk in csv_input.chunks(args.data, args.feature, args.target):
            for s in streams.values():
                s.add(chunk)
            if wanted is None or chunk.start < wanted:
                first.append(chunk.head(None if wanted is None else wanted - chunk.start))
            progress.update(len(chunk.ids))
    return streams, csv_input.concatenate(first)


def context(args: argparse.Namespace, on: list[str], n: int, trajectory_samples: int) -> dict:
    return {
        "command": "backprop-manual verify",
        "data": {"path": str(args.data), "feature": args.feature, "target": args.target, "samples": n},
        "w0": args.w0,
        "b0": args.b0,
        "trajectory": {"epochs": args.epochs, "lr": args.lr, "samples": trajectory_samples},
        "devices_not_available": [d for d in ("cpu", "cuda") if args.device == "all" and d not in on],
    }


def run_train(args: argparse.Namespace) -> int:
    if args.derivation is not None:
        return derivation_commands().run_train(args)
    (device,) = devices(args.device)
    check_output(args.plot, "--plot")
    if args.plot and Path(args.plot).suffix.lower().removeprefix(".") not in plot.supported_formats():
        raise UsageError(f"--plot {args.plot}: matplotlib writes {', '.join(plot.supported_formats())}; use .png")
    rows = csv_input.read(args.data, args.feature, args.target, nrows=args.samples)
    data = samples(rows, dtype=DTYPES[args.dtype], device=device)
    w, b = (torch.tensor(p, dtype=data.X.dtype, device=device) for p in (args.w0, args.b0))
    n = len(data.ids)
    more = " (--samples: more rows in the file are not used)" if n == args.samples and has_more(args.data, n) else ""
    print(
        f"backprop-manual train: {args.data} ({args.feature} -> {args.target}), {n} samples{more}, {args.epochs} "
        f"epochs, eta = {args.lr:g}, from w = {args.w0:g}, b = {args.b0:g}, on {device} in {dtype_name(data.X.dtype)}"
    )
    run = side_by_side(w, b, data.X, data.y, eta=args.lr, epochs=args.epochs)
    report = compare_trajectories(run.manual.trajectory, run.reference.trajectory)
    print(f"\n  {'loop':<36}{'final w':>20}{'final b':>20}{'J, last epoch':>16}")
    for name, d in (
        ("manual (hand-derived gradients)", run.manual),
        ("torch.nn + MSELoss + SGD (autograd)", run.reference),
    ):
        print(f"  {name:<36}{float(d.w):>20.12g}{float(d.b):>20.12g}{float(d.trajectory[-1, :, 2].mean()):>16.8g}")
    largest = ", ".join(f"{p} {d:.3e}" for p, d in report.max_abs.items())
    print(f"\n  largest step-wise |manual - autograd| over {report.steps} steps: {largest}")
    print(f"  {report.summary()}")
    if args.plot:
        plot.plot_training(
            args.plot,
            run,
            title=f"{Path(args.data).name}: {n} samples, {args.epochs} epochs, "
            f"eta = {args.lr:g}, {device} {dtype_name(data.X.dtype)}",
        )
        print(f"\nfigure: {args.plot}")
    return 0 if report.ok else 1


def derivation_commands():
    """--derivation's module, imported on use: it builds on this one (devices, UsageError, DTYPES)."""
    from backprop_manual import derivation_commands

    return derivation_commands


def has_more(path: str, n: int) -> bool:
    return csv_input.count_lines(path) - 1 > n
