"""Regenerate data/wdbc_30.csv from scikit-learn's copy of the Wisconsin Diagnostic Breast Cancer data set.

all 30 features, standardized per column:  x' = (x - mean) / std   (mean and population std, ddof = 0, over all
                                            569 rows), rounded to 7 decimals
columns      = scikit-learn's feature names with spaces as underscores ("mean area" -> mean_area), in its order
is_cancerous = 1 for malignant (scikit-learn's target 0), 0 for benign (target 1)
Rows keep the data set's original order; the first column is the row index, as in data/cell_data.csv.

Run: pip install -c constraints.txt -e '.[data]' && python data/make_wdbc_30.py
"""

from pathlib import Path

import pandas as pd
from sklearn.datasets import load_breast_cancer

OUT = Path(__file__).with_name("wdbc_30.csv")


def make_wdbc_30() -> pd.DataFrame:
    wdbc = load_breast_cancer(as_frame=True)
    X = wdbc.data.rename(columns=lambda c: c.replace(" ", "_"))
    X = ((X - X.mean()) / X.std(ddof=0)).round(7)  # z-scores: the 30 columns' scales span 1e-3 to 4e3
    return X.assign(is_cancerous=(wdbc.target == 0).astype(int))  # scikit-learn: 0 = malignant


if __name__ == "__main__":
    df = make_wdbc_30()
    df.to_csv(OUT)
    print(f"wrote {OUT}: {len(df)} rows, {df.shape[1] - 1} features, {int(df.is_cancerous.sum())} cancerous")
