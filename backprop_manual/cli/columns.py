"""A CSV as a derivation's inputs: `backprop-manual verify --derivation NAME|FILE.py --data CSV [--columns ...]`.

A tensor input of the derivation's example(dtype, device) is read from the CSV instead, one row per sample, from the
column of the input's own name or from the columns that --columns names for it, in the order given:
    --columns x=mean_area                              one column: an input of shape [N] (or [N, 1] as the example's)
    --columns X=mean_radius,mean_texture               several, gathered: [N, 2]
    --columns X=mean_radius:worst_fractal_dimension    a range of the file's columns, both ends included: [N, 30]
The input keeps the example's dtype (a floating-point input the run's dtype; an integer one, such as class indices,
its integer dtype, from whole numbers only) and its shape past the first dimension. Every value must be a finite
number. An input with no column stays the example's when it is not per-sample data (a 0-d constant, a [T, T] mask:
its first dimension is not the example's number of samples); one that is, is a usage error naming it. Inputs that
are not tensors, and the parameters, are the example's. The file is read whole (pandas), so its
rows must fit in memory; the neuron's own CSV path (`verify --data` without --derivation) streams in chunks.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from backprop_manual.cli.usage import UsageError


@dataclass
class Table:
    """The CSV, read once for every device and dtype."""

    path: str
    frame: pd.DataFrame
    mapping: dict[str, list[str]] = field(default_factory=dict)  # --columns: input -> its columns, as given
    used: dict[str, list[str]] = field(default_factory=dict)  # input -> the columns it was read from

    @property
    def rows(self) -> int:
        return len(self.frame)


def parse(specs: list[str] | None) -> dict[str, str]:
    """--columns INPUT=COLS, each as given: {input: cols}; a spec without '=' or a name given twice is a UsageError."""
    out: dict[str, str] = {}
    for spec in specs or []:
        name, eq, cols = spec.partition("=")
        name, cols = name.strip(), cols.strip()
        if not eq or not name or not cols:
            raise UsageError(f"--columns {spec!r}: give INPUT=COLUMN, INPUT=COL1,COL2,... or INPUT=FIRST:LAST")
        if name in out:
            raise UsageError(f"--columns names {name!r} twice")
        out[name] = cols
    return out


def read(path: str, specs: list[str] | None) -> Table:
    """The CSV at `path` (a header line, then one row per sample) with --columns' specs; a UsageError if unreadable."""
    mapping = parse(specs)
    if not Path(path).is_file():
        raise UsageError(f"--data {path}: no such file")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)  # as written: a bad value is shown as it is
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as e:
        raise UsageError(f"--data {path}: not a readable CSV ({str(e).splitlines()[0]})") from None
    if frame.empty:
        raise UsageError(f"--data {path}: no rows under the header")
    table = Table(path, frame)
    columns = list(frame.columns)
    for name, cols in mapping.items():
        table.mapping[name] = _resolve(path, columns, name, cols)
    return table


def _resolve(path: str, columns: list[str], name: str, cols: str) -> list[str]:
    """--columns' COLS for `name` as the list of the file's columns: COL1,COL2,... or FIRST:LAST."""
    if ":" in cols and "," not in cols:
        first, _, last = cols.partition(":")
        missing = [c for c in (first, last) if c not in columns]
        if missing:
            raise UsageError(_no_column(path, columns, missing[0], f"--columns {name}={cols}"))
        i, j = columns.index(first), columns.index(last)
        if j < i:
            raise UsageError(f"--columns {name}={cols}: {last!r} comes before {first!r} in {path}")
        return columns[i : j + 1]
    picked = [c.strip() for c in cols.split(",")]
    for c in picked:
        if c not in columns:
            raise UsageError(_no_column(path, columns, c, f"--columns {name}={cols}"))
    return picked


def _no_column(path: str, columns: list[str], column: str, where: str) -> str:
    shown = ", ".join(map(str, columns[:12])) + (f", ... ({len(columns)} in all)" if len(columns) > 12 else "")
    return f"{where}: {path} has no column {column!r}; its columns: {shown}"


def inputs(table: Table, example: Mapping, derivation: str) -> dict:
    """The example's inputs with every tensor read from the table (module docstring); the columns used are recorded
    in table.used."""
    unknown = [k for k in table.mapping if k not in example]
    if unknown:
        raise UsageError(
            f"--columns {unknown[0]}=...: {derivation} has no input {unknown[0]!r}; its inputs: {', '.join(example)}"
        )
    tensors = {k: v for k, v in example.items() if isinstance(v, torch.Tensor)}
    read = {k: table.mapping.get(k) or [k] for k in tensors if k in table.mapping or k in table.frame.columns}
    if not read:
        raise UsageError(
            f"none of {derivation}'s inputs ({', '.join(tensors) or 'none'}) has a column in {table.path}: "
            f"name them with --columns INPUT=COLUMN"
        )
    # the example's other inputs with as many rows as those read are per-sample data too, and must be read; the
    # rest (a 0-d constant, a [T, T] mask) stay the example's
    samples = {int(tensors[k].shape[0]) for k in read if tensors[k].ndim}
    missing = [k for k, v in tensors.items() if k not in read and v.ndim and int(v.shape[0]) in samples]
    if missing:
        raise UsageError(
            _no_column(table.path, list(table.frame.columns), missing[0], f"{derivation}'s input {missing[0]!r}")
            + f"; name its column(s) with --columns {missing[0]}=COLUMN (or COL1,COL2,... or FIRST:LAST)"
        )
    out = dict(example)
    for name, cols in read.items():
        out[name] = _tensor(table, name, cols, tensors[name])
        table.used[name] = cols
    return out


def _tensor(table: Table, name: str, cols: list[str], like: torch.Tensor) -> torch.Tensor:
    """The columns as a tensor like the example's input `like`: its dtype, device and shape past the first dim."""
    values = table.frame[cols].apply(pd.to_numeric, errors="coerce").to_numpy(dtype="float64")
    bad = ~(values == values) | (abs(values) == math.inf)  # NaN (not a number, or empty) or infinite
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raw = table.frame[cols[col]].iloc[row]
        raise UsageError(
            f"{table.path}: line {row + 2}, column {cols[col]!r} (input {name!r}): {raw!r} is not a finite number"
        )
    t = torch.tensor(values)  # a copy: the frame's array may be read-only
    if like.ndim == 1 and len(cols) == 1:
        t = t[:, 0]
    if tuple(t.shape[1:]) != tuple(like.shape[1:]) or like.ndim == 0:
        shape = "[" + ", ".join(["N", *map(str, like.shape[1:])]) + "]" if like.ndim else "[] (one value)"
        raise UsageError(
            f"input {name!r} is {shape} in the example; {len(cols)} column(s) ({', '.join(cols)}) make "
            f"[{', '.join(['N', *map(str, t.shape[1:])])}]"
        )
    if not like.is_floating_point():
        if (t != t.round()).any():
            kind = str(like.dtype).removeprefix("torch.")
            raise UsageError(f"input {name!r} is {kind} in the example: its column(s) must hold whole numbers")
    return t.to(dtype=like.dtype, device=like.device)
