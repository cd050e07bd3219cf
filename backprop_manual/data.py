"""The lesson's cell data set: one feature (mean_area) and a 0/1 target (is_cancerous), one row per sample."""

from pathlib import Path
from typing import NamedTuple

import torch

from backprop_manual.csv_input import Chunk, DataError, read

CELL_DATA = Path(__file__).resolve().parents[1] / "data" / "cell_data.csv"

__all__ = ["CELL_DATA", "DataError", "Samples", "load_cell_data", "samples"]


class Samples(NamedTuple):
    X: torch.Tensor  # [N] feature, e.g. mean_area
    y: torch.Tensor  # [N] target in {0, 1}, X's dtype
    ids: list[int]  # the CSV's index value of each row


def samples(chunk: Chunk, *, dtype: torch.dtype, device: str | torch.device) -> Samples:
    """Rows read from a CSV as tensors of the caller's dtype on the caller's device."""
    X = torch.tensor(chunk.x, dtype=dtype, device=device)
    y = torch.tensor(chunk.y, dtype=dtype, device=device)
    return Samples(X, y, list(chunk.ids))


def load_cell_data(
    path: str | Path = CELL_DATA,
    *,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
    feature: str = "mean_area",
    target: str = "is_cancerous",
    index_col: str | None = None,
) -> Samples:
    """Read the CSV into tensors. The ids come from index_col, else from the first column if its header cell is
    empty (pandas' to_csv, the lesson's cell_data-2.csv), else they are the rows' positions from 0.

    Raises DataError (a ValueError) naming the file, row and column of anything it cannot use: see csv_input.
    """
    return samples(read(path, feature, target, index_col=index_col), dtype=dtype, device=device)
