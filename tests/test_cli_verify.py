"""backprop-manual verify: your own CSV, and the verdict as JSON for CI."""

import json
import math
from dataclasses import asdict, fields

import pandas as pd
import pytest
import torch

from backprop_manual import load_cell_data, local_derivatives
from backprop_manual.cli import main
from backprop_manual.compare import Row
from backprop_manual.data import CELL_DATA
from backprop_manual.verify import verify_gradients

ONE_EPOCH = ["verify", "--device", "cpu", "--epochs", "1"]


def strict_json(path) -> dict:
    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_the_verdict_holds_every_row_as_verified(tmp_path, capsys):
    verdict = tmp_path / "verdict.json"
    assert main([*ONE_EPOCH, "--json", str(verdict)]) == 0
    document = strict_json(verdict)
    assert (document["schema"], document["status"], document["exit_code"]) == (2, "ok", 0)
    assert document["data"] == {
        "path": str(CELL_DATA),
        "feature": "mean_area",
        "target": "is_cancerous",
        "index_col": None,  # the first column, its header cell empty: the index, by pandas' convention
        "samples": 569,
    }
    assert [(r["device"], r["dtype"]) for r in document["runs"]] == [("cpu", "float32"), ("cpu", "float64")]
    for run, dtype in zip(document["runs"], (torch.float32, torch.float64), strict=True):
        data = load_cell_data(dtype=dtype)
        w, b = torch.tensor(2.0, dtype=dtype), torch.tensor(-2.0, dtype=dtype)
        expected = verify_gradients(w, b, data.X, data.y, ids=data.ids).report.rows
        for row, r in zip(run["intermediates"], expected, strict=True):
            as_null = {k: None if v == math.inf else v for k, v in asdict(r).items() if k not in ("at", "index")}
            assert {k: row[k] for k in as_null} == as_null, r.name  # JSON has no inf: null
            # the bundled file's index is its row number: the id and the position agree here
            assert (row["status"], row["symbol"], row["position"], row["sample_id"]) == ("ok", r.symbol, r.at, r.at)
        assert (run["status"], run["first_divergent_intermediate"]) == ("ok", None)
        assert run["trajectory"] == {
            "status": "ok",
            "steps": 569,
            "max_abs_diff": {"w": 0.0, "b": 0.0},
            "first_divergence": None,
            "overflow": None,
        }


def test_rows_are_serialised_generically(tmp_path, capsys):
    """Every field of compare.Row is in the verdict, whatever fields Row has: none is listed by hand."""
    verdict = tmp_path / "verdict.json"
    assert main([*ONE_EPOCH, "--dtype", "float64", "--json", str(verdict)]) == 0
    (run,) = strict_json(verdict)["runs"]
    for row in run["intermediates"]:
        assert set(row) == {f.name for f in fields(Row)} - {"at", "index"} | {"position", "sample_id"}
    assert run["intermediates"][0]["headroom"] is None, "dJ/dσ agrees exactly: infinite headroom, null"


def test_a_mismatch_in_the_verdict(monkeypatch, tmp_path, capsys):
    # one wrong derivative, and both the gradient table and the trajectory see it: the loop runs the derivation
    monkeypatch.setattr(local_derivatives, "delta_sigma_delta_z", lambda z, sigma=None: torch.sigmoid(z))
    verdict = tmp_path / "verdict.json"
    assert main([*ONE_EPOCH, "--dtype", "float32", "--json", str(verdict)]) == 1
    document = strict_json(verdict)
    assert (document["status"], document["exit_code"]) == ("MISMATCH", 1)
    (run,) = document["runs"]
    assert (run["status"], run["first_divergent_intermediate"]) == ("MISMATCH", "delta_J_delta_z")
    assert [r["status"] for r in run["intermediates"]] == ["ok", "MISMATCH", "MISMATCH", "MISMATCH"]
    assert run["intermediates"][1]["position"] == 0 and run["intermediates"][1]["abs_diff"] > 0.25
    assert run["trajectory"]["status"] == "MISMATCH"
    first = run["trajectory"]["first_divergence"]
    assert (first["epoch"], first["position"], first["parameter"], first["sample_id"]) == (0, 0, "w", 0)
    assert abs(first["manual"] - first["reference"]) > first["allowance"]


def test_your_own_csv_without_an_index_column(tmp_path, capsys):
    path = tmp_path / "mine.csv"
    pd.DataFrame({"area": [0.5, 1.5, 2.5, 0.8], "label": [0, 1, 1, 0], "note": list("abcd")}).to_csv(path, index=False)
    verdict = tmp_path / "verdict.json"
    argv = [*ONE_EPOCH, "--data", str(path), "--feature", "area", "--target", "label", "--json", str(verdict)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"{path} (area -> label)" in out and "cpu float64: 4 samples" in out
    (run, _) = strict_json(verdict)["runs"]
    assert {r["sample_id"] for r in run["intermediates"]} <= {0, 1, 2, 3}, "rows numbered from 0"
    assert run["trajectory"]["steps"] == 4


@pytest.mark.parametrize(
    "option, trained",
    [pytest.param([], 1000, id="default-first-1000"), pytest.param(["--trajectory-samples", "all"], 1500, id="all")],
)
def test_the_trajectory_trains_on_the_first_rows(tmp_path, capsys, option, trained):
    path = tmp_path / "longer.csv"
    pd.DataFrame(
        {"mean_area": [1 + (i % 50) / 25 for i in range(1500)], "is_cancerous": [i % 2 for i in range(1500)]}
    ).to_csv(path)
    verdict = tmp_path / "verdict.json"
    assert main([*ONE_EPOCH, "--dtype", "float64", "--data", str(path), "--json", str(verdict), *option]) == 0
    out = capsys.readouterr().out
    assert "cpu float64: 1500 samples" in out and f"trajectory, {trained} steps" in out
    assert ("trajectory on the first 1000 of the 1500 samples (--trajectory-samples)" in out) == (trained == 1000)
    document = strict_json(verdict)
    assert document["trajectory"] == {"epochs": 1, "lr": 1e-4, "samples": trained}
    assert document["runs"][0]["samples"] == 1500
