"""Regenerate data/iris.csv from scikit-learn's copy of Fisher's iris data set (bundled, no download).

the 4 features, standardized per column:  x' = (x - mean) / std   (mean and population std, ddof = 0, over all
                                          150 rows), rounded to 7 decimals
columns = sepal_length, sepal_width, petal_length, petal_width (scikit-learn's names without " (cm)")
species = the class index, 0 setosa, 1 versicolor, 2 virginica (scikit-learn's target)
Rows keep the data set's original order; the first column is the row index, as in data/cell_data.csv.

Run: pip install -c constraints.txt -e '.[data]' && python data/make_iris.py
"""

from pathlib import Path

import pandas as pd
from sklearn.datasets import load_iris

OUT = Path(__file__).with_name("iris.csv")


def make_iris() -> pd.DataFrame:
    iris = load_iris(as_frame=True)
    X = iris.data.rename(columns=lambda c: c.removesuffix(" (cm)").replace(" ", "_"))
    X = ((X - X.mean()) / X.std(ddof=0)).round(7)
    return X.assign(species=iris.target.astype(int))


if __name__ == "__main__":
    df = make_iris()
    df.to_csv(OUT)
    print(f"wrote {OUT}: {len(df)} rows, {df.shape[1] - 1} features, classes {df.species.value_counts().to_dict()}")
