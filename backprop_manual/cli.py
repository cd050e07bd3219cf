"""backprop-manual: verify every hand-derived gradient against autograd, on every device and dtype.

Exit codes: 0 all agree, 1 a mismatch, 2 bad input or usage.
"""

import argparse
import sys

import torch

from backprop_manual.data import CELL_DATA, load_cell_data
from backprop_manual.loop import gradient_descent
from backprop_manual.reference_loop import nn_sgd_descent
from backprop_manual.trajectory import compare_trajectories
from backprop_manual.verify import dtype_name, verify_gradients

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def available_devices() -> list[str]:
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def verify(args: argparse.Namespace) -> int:
    devices = available_devices() if args.device == "all" else [args.device]
    if "cuda" in devices and not torch.cuda.is_available():
        print("error: --device cuda asked for, but torch.cuda.is_available() is False", file=sys.stderr)
        return 2
    dtypes = list(DTYPES) if args.dtype == "all" else [args.dtype]
    print(
        f"backprop_manual: hand-derived gradients vs autograd, {args.data}, w = {args.w0:g}, b = {args.b0:g}; "
        f"trajectory: {args.epochs} epochs, eta = {args.lr:g}, manual loop vs torch.nn + MSELoss + optim.SGD"
    )
    if args.device == "all" and "cuda" not in devices:
        print("cuda: not available on this machine (torch.cuda.is_available() is False): not verified")
    all_ok = True
    for device in devices:
        for name in dtypes:
            dtype = DTYPES[name]
            data = load_cell_data(args.data, dtype=dtype, device=device)
            w, b = (torch.tensor(p, dtype=dtype, device=device) for p in (args.w0, args.b0))
            v = verify_gradients(w, b, data.X, data.y, ids=data.ids)
            manual = gradient_descent(w, b, data.X, data.y, eta=args.lr, epochs=args.epochs, trajectory=True)
            reference = nn_sgd_descent(w, b, data.X, data.y, eta=args.lr, epochs=args.epochs, trajectory=True)
            trajectory = compare_trajectories(manual.trajectory, reference.trajectory)
            print(f"\n{device} {dtype_name(dtype)}: {len(data.ids)} samples")
            print(v.table() if v.ok else v.message())
            print(f"  {trajectory.summary()}")
            all_ok &= v.ok and trajectory.ok
    print(f"\n{'all agree' if all_ok else 'MISMATCH: see the tables above'}")
    return 0 if all_ok else 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="backprop-manual",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: backprop-manual --device cpu --dtype float64",
    )
    p.add_argument("--data", default=str(CELL_DATA), help="CSV with an index column, mean_area and is_cancerous")
    p.add_argument("--device", choices=("cpu", "cuda", "all"), default="all", help="default: every available device")
    p.add_argument("--dtype", choices=(*DTYPES, "all"), default="all", help="default: float32 and float64")
    p.add_argument("--w0", type=float, default=2.0, help="w to check the gradients at, and to start training from")
    p.add_argument("--b0", type=float, default=-2.0, help="b, likewise")
    p.add_argument("--epochs", type=int, default=20, help="epochs of the trajectory check (default 20)")
    p.add_argument("--lr", type=float, default=1e-4, help="learning rate eta (default 1e-4)")
    return p


def main(argv: list[str] | None = None) -> int:
    return verify(parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
