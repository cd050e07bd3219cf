"""The JSON verdict's own rules: strict JSON (non-finite numbers are null), UTF-8, one document; its layout, schema 4.

tests/cli/test_commands.py checks the values of a real run's verdict; here the keys and their rules.
"""

import json
import math
import os

import pytest

from backprop_manual.cli.verdict import SCHEMA, finite_or_null, trajectory, verdict, write
from backprop_manual.neuron_check.trajectory import Divergence, TrajectoryReport


def test_non_finite_floats_become_null_at_any_depth_and_nothing_else_changes():
    document = {
        "nan": math.nan,
        "inf": math.inf,
        "-inf": -math.inf,
        "numbers": [0.0, -0.0, 1.5, -2, 10**20, 5e-324],
        "nested": {"rows": ({"headroom": math.inf, "close": True, "sample_id": None, "name": "dJ/dσ"},)},
    }
    assert finite_or_null(document) == {
        "nan": None,
        "inf": None,
        "-inf": None,
        "numbers": [0.0, -0.0, 1.5, -2, 10**20, 5e-324],
        "nested": {"rows": [{"headroom": None, "close": True, "sample_id": None, "name": "dJ/dσ"}]},
    }


def test_write_gives_strict_indented_utf8_json_ending_in_a_newline(tmp_path):
    path = tmp_path / "verdict.json"
    write(path, {"symbol": "dJ/dσ", "headroom": math.inf, "rows": [1, 2]})
    text = path.read_bytes().decode("utf-8")
    assert text == '{\n  "symbol": "dJ/dσ",\n  "headroom": null,\n  "rows": [\n    1,\n    2\n  ]\n}\n'


def test_the_document_says_its_schema_and_one_status_consistent_with_the_exit_code():
    ok, bad = {"status": "ok"}, {"status": "MISMATCH"}
    assert SCHEMA == 4
    assert [(d["schema"], d["status"], d["exit_code"]) for d in (verdict({}, [ok, ok]), verdict({}, [ok, bad]))] == [
        (4, "ok", 0),
        (4, "MISMATCH", 1),
    ]
    assert "ok" not in verdict({}, [ok]), "status says it; no second key to disagree with it"


def test_a_trajectory_step_has_one_position_and_one_id():
    step = Divergence(epoch=1, sample=2, parameter="w", manual=math.inf, autograd=math.inf, allowance=math.inf)
    report = TrajectoryReport(steps=10, max_abs={"w": 0.0, "b": 0.0}, first=None, overflow=step)
    document = trajectory(report, ids=[100, 101, 102, 103, 104])
    assert document == {
        "status": "overflow",
        "steps": 10,
        "max_abs_diff": {"w": 0.0, "b": 0.0},
        "first_divergence": None,
        "overflow": {
            "epoch": 1,
            "parameter": "w",
            "manual": math.inf,
            "autograd": math.inf,
            "allowance": math.inf,
            "position": 2,
            "sample_id": 102,
        },
    }
    assert json.loads(json.dumps(finite_or_null(document)))["overflow"]["manual"] is None


def test_a_verdict_replaces_the_earlier_one_whole_with_the_mode_open_gives(tmp_path):
    path = tmp_path / "verdict.json"
    path.write_text('{"status": "MISMATCH", "a much longer earlier verdict": "' + "x" * 1000 + '"}\n')
    expected_mode = path.stat().st_mode  # what open() gave a new file under this umask
    write(path, {"status": "ok"})
    assert json.loads(path.read_text(encoding="utf-8")) == {"status": "ok"}
    assert path.stat().st_mode == expected_mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["verdict.json"], "no temporary file left"


def test_a_write_interrupted_before_the_rename_leaves_the_earlier_verdict_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "verdict.json"
    path.write_text('{"status": "MISMATCH"}\n')

    def ctrl_c(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        write(path, {"status": "ok"})
    assert path.read_text() == '{"status": "MISMATCH"}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["verdict.json"]
