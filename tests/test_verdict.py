"""The JSON verdict's own rules: strict JSON (no NaN or inf literals), written only when asked, UTF-8, one document."""

import json
import math

from backprop_manual.verdict import finite_or_text, write


def test_non_finite_floats_become_text_at_any_depth_and_nothing_else_changes():
    document = {
        "nan": math.nan,
        "inf": math.inf,
        "-inf": -math.inf,
        "numbers": [0.0, -0.0, 1.5, -2, 10**20, 5e-324],
        "nested": {"rows": ({"headroom": math.inf, "ok": True, "at": None, "name": "dJ/dσ"},)},
    }
    assert finite_or_text(document) == {
        "nan": "nan",
        "inf": "inf",
        "-inf": "-inf",
        "numbers": [0.0, -0.0, 1.5, -2, 10**20, 5e-324],
        "nested": {"rows": [{"headroom": "inf", "ok": True, "at": None, "name": "dJ/dσ"}]},
    }


def test_write_gives_strict_indented_utf8_json_ending_in_a_newline(tmp_path):
    path = tmp_path / "verdict.json"
    write(path, {"symbol": "dJ/dσ", "headroom": math.inf, "rows": [1, 2]})
    text = path.read_bytes().decode("utf-8")
    assert text == '{\n  "symbol": "dJ/dσ",\n  "headroom": "inf",\n  "rows": [\n    1,\n    2\n  ]\n}\n'
