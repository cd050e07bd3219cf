"""What every command shares, below all of them: the dtypes and devices by name, UsageError, an output path checked.

commands.py (the neuron), derivations.py and distributed.py (--derivation) and main.py (the parser) import these
from here, so that none of them imports another for them.
"""

from pathlib import Path

import torch

DTYPES = {"float32": torch.float32, "float64": torch.float64}  # "all"
LOW = {"bfloat16": torch.bfloat16, "float16": torch.float16}  # --derivation only, asked for by name
ANY_DTYPE = {**DTYPES, **LOW}


class UsageError(Exception):
    """A request that cannot be carried out as asked: exit code 2, the message, no traceback."""


def devices(asked: str | None) -> list[str]:
    """asked: cpu, cuda, all (both: CUDA must be there), or None (not given): every available device."""
    available = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    if asked in ("cuda", "all") and "cuda" not in available:
        hint = "" if asked == "cuda" else ": leave --device out to verify every available device"
        raise UsageError(
            f"--device {asked} asked for, but torch.cuda.is_available() is False (no GPU, or a CPU build of torch)"
            + hint
        )
    return available if asked in (None, "all") else [asked]


def check_output(path: str | None, option: str) -> None:
    if path is None:
        return
    if Path(path).is_dir():
        raise UsageError(f"{option} {path} is a directory: give a file name")
    if not Path(path).parent.is_dir():
        raise UsageError(f"{option} {path}: the folder {Path(path).parent} does not exist; create it first")
