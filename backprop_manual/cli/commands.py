"""What `backprop-manual verify` and `backprop-manual train` do once their arguments are parsed.

Everything a user can get wrong is checked before any work or any output file: a bad run writes nothing. One thing
shows only during the run: both loops overflowing together from finite inputs (NotVerified); it exits 2 and
writes nothing either.
"""

import argparse
import sys
from pathlib import Path

import torch

from backprop_manual.check.compare import counted
from backprop_manual.cli import plot, verdict
from backprop_manual.cli.side_by_side import bar, side_by_side
from backprop_manual.cli.streaming import StreamedVerification
from backprop_manual.cli.usage import ANY_DTYPE, DTYPES, UsageError, check_output, devices
from backprop_manual.neuron import data as csv_input
from backprop_manual.neuron.data import samples
from backprop_manual.neuron_check.trajectory import compare_trajectories
from backprop_manual.neuron_check.verify import dtype_name

# Both loops keep (w, b, J) of every step: 48 bytes a step in float64, 2.4 GB at this bound, ~3 hours at ~0.2 ms a
# step. The largest run the docs describe, a million rows x 20 epochs (--trajectory-samples all), is 2e7.
MAX_TRAJECTORY_STEPS = 5 * 10**7


class NotVerified(UsageError):
    """Both loops overflowed together from finite inputs: nothing to compare from there on. Exit 2, never 0 or 1."""


def short(value: float) -> str:
    return f"{value:.3g}".replace("e+", "e")  # 1e300, 3.4e38


def check_values(args: argparse.Namespace) -> None:
    """--w0, --b0 and --lr (those given or defaulted) must be finite in each dtype the run computes in, and --lr must
    not round to 0 there: checked before any work, for the neuron and --derivation alike."""
    for name in list(DTYPES) if args.dtype == "all" else [args.dtype]:
        info = torch.finfo(ANY_DTYPE[name])
        for option, value in (("--w0", args.w0), ("--b0", args.b0), ("--lr", args.lr)):
            if value is not None and abs(value) > info.max:
                raise UsageError(
                    f"{option} {short(value)} does not fit {name} (max {short(info.max)})"
                    + (": use --dtype float64" if name != "float64" else "")
                )
        if args.lr is not None and float(torch.tensor(args.lr, dtype=ANY_DTYPE[name])) == 0:
            raise UsageError(
                f"--lr {short(args.lr)} is 0 in {name} (smallest {short(info.smallest_normal * info.eps)}): "
                "no step would move w or b"
            )


def check_steps(epochs: int, rows: int, option: str) -> None:
    if epochs * rows > MAX_TRAJECTORY_STEPS:
        raise UsageError(
            f"--epochs {epochs} x {rows:,} rows = {epochs * rows:.3g} training steps, over the "
            f"{MAX_TRAJECTORY_STEPS:.0e} whose trajectories are kept in memory: fewer --epochs or a smaller {option}"
        )


def run_verify(args: argparse.Namespace) -> int:
    """The neuron on a CSV (main.py sends --derivation to derivations.run_verify)."""
    on = devices(args.device)
    dtypes = list(DTYPES) if args.dtype == "all" else [args.dtype]
    check_output(args.json, "--json")
    layout = csv_input.inspect(args.data, args.feature, args.target, args.index_col)  # the file, looked at once
    rows = layout.rows  # at most: blank lines count too
    trained = rows if args.trajectory_samples is None else min(rows, args.trajectory_samples)
    check_steps(args.epochs, trained, "--trajectory-samples")
    print(
        f"backprop_manual: hand-derived gradients vs autograd, {args.data} ({args.feature} -> {args.target}), "
        f"w = {args.w0:g}, b = {args.b0:g}; trajectory: {counted(args.epochs, 'epoch')}, eta = {args.lr:g}, "
        "manual loop vs torch.nn + MSELoss + optim.SGD"
    )
    if args.device is None and "cuda" not in on:
        print("cuda: not available on this machine (torch.cuda.is_available() is False): not verified")
    streams, first = stream(args, [(d, n) for d in on for n in dtypes], layout)
    runs, overflowed = [], []
    for (d, n), s in streams.items():
        data = samples(first, dtype=DTYPES[n], device=d)
        run = side_by_side(s.w, s.b, data.X, data.y, eta=args.lr, epochs=args.epochs, desc=f"trajectory {d} {n}")
        trajectory = compare_trajectories(run.manual.trajectory, run.autograd.trajectory)
        v = s.verification()
        print(f"\n{d} {n}: {counted(s.samples, 'sample')}")
        print(v.table() if v.ok else v.message())
        if len(data.ids) < s.samples:
            print(f"  trajectory on the first {len(data.ids)} of the {s.samples} samples (--trajectory-samples)")
        print(f"  {trajectory.summary()}")
        runs.append(verdict.run(d, n, v, trajectory, data.ids))
        if trajectory.overflow is not None:
            overflowed.append((f"{d} {n}", trajectory.overflow))
    result = verdict.verdict(context(args, on, s.samples, len(data.ids)), runs)
    if overflowed and result["status"] == "ok":
        print("\nnot verified: see the trajectory lines above")
        raise not_verified(args, overflowed[0])
    print(f"\n{'all agree' if result['status'] == 'ok' else 'MISMATCH: see the tables above'}")
    sys.stdout.flush()  # a closed pipe is found here, before the verdict is written, not at exit
    if args.json:
        verdict.write(args.json, result)
    return result["exit_code"]


def not_verified(args: argparse.Namespace, where: tuple[str, object]) -> NotVerified:
    """on: "cpu float32"; o: the trajectory's overflow, a Divergence."""
    on, o = where
    wider = " (or --dtype float64)" if on.endswith("float32") else ""
    return NotVerified(
        f"not verified: on {on} both loops overflowed at epoch {o.epoch}, sample {o.sample} ({o.parameter} "
        f"{o.manual:g} in both), from --w0 {short(args.w0)}, --b0 {short(args.b0)}, --lr {short(args.lr)}: "
        f"a smaller --lr, --w0 or --b0{wider} keeps the training in range"
    )


def stream(
    args: argparse.Namespace, combos: list[tuple[str, str]], layout: csv_input.Layout
) -> tuple[dict, csv_input.Chunk]:
    """One read of the file's rows: every chunk verified on each (device, dtype); the rows the trajectory trains
    on."""
    streams = {
        (d, n): StreamedVerification(
            *(torch.tensor(p, dtype=DTYPES[n], device=d) for p in (args.w0, args.b0)),
            feature=args.feature,
            target=args.target,
        )
        for d, n in combos
    }
    wanted, first = args.trajectory_samples, []
    with bar(layout.rows, "verifying gradients", " rows") as progress:
        chunks = csv_input.chunks(args.data, args.feature, args.target, index_col=args.index_col, names=layout.names)
        for chunk in chunks:
            for s in streams.values():
                s.add(chunk)
            if wanted is None or chunk.start < wanted:
                first.append(chunk.head(None if wanted is None else wanted - chunk.start))
            progress.update(len(chunk.ids))
    return streams, csv_input.concatenate(first)


def context(args: argparse.Namespace, on: list[str], n: int, trajectory_samples: int) -> dict:
    return {
        "command": "backprop-manual verify",
        "data": {
            "path": str(args.data),
            "feature": args.feature,
            "target": args.target,
            "index_col": args.index_col,
            "samples": n,
        },
        "w0": args.w0,
        "b0": args.b0,
        "trajectory": {"epochs": args.epochs, "lr": args.lr, "samples": trajectory_samples},
        "devices_not_available": [d for d in ("cpu", "cuda") if args.device is None and d not in on],
    }


def run_train(args: argparse.Namespace) -> int:
    """The neuron on a CSV (main.py sends --derivation to derivations.run_train)."""
    (device,) = devices(args.device)
    check_output(args.plot, "--plot")
    if args.plot and Path(args.plot).suffix.lower().removeprefix(".") not in plot.supported_formats():
        raise UsageError(f"--plot {args.plot}: matplotlib writes {', '.join(plot.supported_formats())}; use .png")
    layout = csv_input.inspect(args.data, args.feature, args.target, args.index_col)  # the file, looked at once
    lines = layout.rows
    check_steps(args.epochs, lines if args.samples is None else min(lines, args.samples), "--samples")
    rows = csv_input.read(
        args.data, args.feature, args.target, index_col=args.index_col, nrows=args.samples, names=layout.names
    )
    data = samples(rows, dtype=DTYPES[args.dtype], device=device)
    w, b = (torch.tensor(p, dtype=data.X.dtype, device=device) for p in (args.w0, args.b0))
    n = len(data.ids)
    more = " (--samples: more rows in the file are not used)" if n == args.samples and lines > n else ""
    print(
        f"backprop-manual train: {args.data} ({args.feature} -> {args.target}), {counted(n, 'sample')}{more}, "
        f"{counted(args.epochs, 'epoch')}, eta = {args.lr:g}, from w = {args.w0:g}, b = {args.b0:g}, on {device} in "
        f"{dtype_name(data.X.dtype)}"
    )
    run = side_by_side(w, b, data.X, data.y, eta=args.lr, epochs=args.epochs)
    report = compare_trajectories(run.manual.trajectory, run.autograd.trajectory)
    print(f"\n  {'loop':<36}{'final w':>20}{'final b':>20}{'J, last epoch':>16}")
    for name, d in (
        ("manual (hand-derived gradients)", run.manual),
        ("torch.nn + MSELoss + SGD (autograd)", run.autograd),
    ):
        print(f"  {name:<36}{float(d.w):>20.12g}{float(d.b):>20.12g}{float(d.trajectory[-1, :, 2].mean()):>16.8g}")
    largest = ", ".join(f"{p} {d:.3e}" for p, d in report.max_abs.items())
    print(f"\n  largest step-wise |manual - autograd| over {counted(report.steps, 'step')}: {largest}")
    print(f"  {report.summary()}")
    if report.overflow is not None:
        raise not_verified(args, (f"{device} {dtype_name(data.X.dtype)}", report.overflow))
    if args.plot:
        plot.plot_training(
            args.plot,
            run,
            title=f"{Path(args.data).name}: {counted(n, 'sample')}, {counted(args.epochs, 'epoch')}, "
            f"eta = {args.lr:g}, {device} {dtype_name(data.X.dtype)}",
        )
        print(f"\nfigure: {args.plot}")
    return 0 if report.ok else 1
