"""The verdict as JSON, for CI: per device, dtype and intermediate, and for the trajectory.

Rows are serialised generically (dataclasses.asdict of compare.Row and trajectory.Divergence), so a field added to
them appears here without a change. Non-finite floats (a relative difference over an autograd value of 0 is inf)
are written as the strings "nan", "inf", "-inf": the file stays strict JSON.
"""

import json
import math
from dataclasses import asdict
from pathlib import Path

import torch

from backprop_manual.streaming import StreamedVerification
from backprop_manual.trajectory import TrajectoryReport
from backprop_manual.verify import Verification


def intermediates(s: StreamedVerification, v: Verification) -> list[dict]:
    """v: s.verification(), whose `at` counts among the kept samples; here it counts from the file's first row."""
    return [
        {
            **asdict(r),
            "at": s.kept.positions[r.at],
            "sample_id": v.ids[r.at],
        }
        for r in v.report.rows
    ]


def trajectory(t: TrajectoryReport, ids: list[int]) -> dict:
    first = None if t.first is None else {**asdict(t.first), "sample_id": ids[t.first.sample]}
    return {"ok": t.ok, "steps": t.steps, "max_abs_diff": t.max_abs, "first_divergence": first}


def run(
    device: str, dtype: str, s: StreamedVerification, v: Verification, t: TrajectoryReport, trajectory_ids: list[int]
) -> dict:
    """s: the streamed verification, v: s.verification(); t: the trajectory over the samples trajectory_ids."""
    first = v.report.first_divergence
    return {
        "device": device,
        "dtype": dtype,
        "ok": v.ok and t.ok,
        "samples": s.samples,
        "first_divergent_intermediate": None if first is None else first.label,
        "intermediates": intermediates(s, v),
        "trajectory": trajectory(t, trajectory_ids),
    }


def finite_or_text(value):
    """JSON has no NaN or inf: write them as text, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan", "inf" or "-inf"
    if isinstance(value, dict):
        return {k: finite_or_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_text(v) for v in value]
    return value


def verdict(context: dict, runs: list[dict]) -> dict:
    ok = all(r["ok"] for r in runs)
    return {"ok": ok, "exit_code": 0 if ok else 1, **context, "torch": torch.__version__, "runs": runs}


def write(path: str | Path, document: dict) -> None:
    """Called once the run is over: bad input exits before, leaving an earlier verdict as it was."""
    text = json.dumps(finite_or_text(document), indent=2, ensure_ascii=False)  # finite_or_text: strict JSON
    Path(path).write_text(text + "\n", encoding="utf-8")
