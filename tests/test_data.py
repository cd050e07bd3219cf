"""The bundled cell data set: the lesson's columns, its first rows, the Wisconsin set's size and balance."""

import pandas as pd

from backprop_manual.data import CELL_DATA, load_cell_data


def test_the_csv_has_the_lessons_shape():
    df = pd.read_csv(CELL_DATA, index_col=0)
    assert list(df.columns) == ["mean_area", "is_cancerous"]
    assert len(df) == 569 and list(df.index) == list(range(569))
    assert df.iloc[:2].values.tolist() == [[1.001, 1], [1.326, 1]]
    assert df.is_cancerous.value_counts().to_dict() == {0: 357, 1: 212}  # WDBC: 357 benign, 212 malignant


def test_loader_gives_one_value_per_sample():
    data = load_cell_data()
    assert data.X.shape == data.y.shape == (569,)
    assert data.ids[:3] == [0, 1, 2] and float(data.X[1]) == 1.326
