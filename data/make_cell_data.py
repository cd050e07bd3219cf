"""Regenerate data/cell_data.csv from scikit-learn's copy of the Wisconsin Diagnostic Breast Cancer data set.

mean_area    = "mean area" / 1000
is_cancerous = 1 for malignant (scikit-learn's target 0), 0 for benign (target 1)
Rows keep the data set's original order; the first column is the row index, as in the lesson's cell_data-2.csv.

Run: pip install -e '.[data]' && python data/make_cell_data.py
"""

from pathlib import Path

import pandas as pd
from sklearn.datasets import load_breast_cancer

OUT = Path(__file__).with_name("cell_data.csv")


def make_cell_data() -> pd.DataFrame:
    wdbc = load_breast_cancer(as_frame=True)
    return pd.DataFrame(
        {
            "mean_area": (wdbc.data["mean area"] / 1000).round(7),  # round away float noise: 386.1 / 1000 -> 0.3861
            "is_cancerous": (wdbc.target == 0).astype(int),  # scikit-learn: 0 = malignant
        }
    )


if __name__ == "__main__":
    df = make_cell_data()
    df.to_csv(OUT)
    print(f"wrote {OUT}: {len(df)} rows, {int(df.is_cancerous.sum())} cancerous")
