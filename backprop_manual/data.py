"""The lesson's cell data set: one feature (mean_area) and a 0/1 target (is_cancerous), one row per sample."""

from pathlib import Path
from typing import NamedTuple

import pandas as pd
import torch

CELL_DATA = Path(__file__).resolve().parents[1] / "data" / "cell_data.csv"


class Samples(NamedTuple):
    X: torch.Tensor  # [N] feature, e.g. mean_area
    y: torch.Tensor  # [N] target in {0, 1}, X's dtype
    ids: list[int]  # the CSV's index value of each row


def load_cell_data(
    path: str | Path = CELL_DATA,
    *,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
    feature: str = "mean_area",
    target: str = "is_cancerous",
) -> Samples:
    """Read the CSV (first column is the index, as in the lesson's cell_data-2.csv) into tensors."""
    df = pd.read_csv(path, index_col=0)
    X = torch.tensor(df[feature].to_numpy(dtype="float64"), dtype=dtype, device=device)
    y = torch.tensor(df[target].to_numpy(dtype="float64"), dtype=dtype, device=device)
    return Samples(X, y, [int(i) for i in df.index])
