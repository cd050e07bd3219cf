"""The verdict as JSON, for CI: per device, dtype and intermediate, and for the trajectory (docs/cli.md, every key).

Rows are serialised generically (dataclasses.asdict of compare.Row and trajectory.Divergence), so a field added to
them appears here without a change; only the row's place is renamed: `position` (its 0-based position among the
file's rows) and `sample_id` (its index value, what the tables show) stand for Row's `at` and `index` and for
Divergence's `sample`. Non-finite floats (a headroom of inf: the difference is exactly 0) are written as null: the
file stays strict JSON, as with --derivation. SCHEMA goes up when a key changes meaning or goes away.
"""

import json
import math
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch

from backprop_manual.neuron_check.trajectory import TrajectoryReport
from backprop_manual.neuron_check.verify import Verification

SCHEMA = 4  # 4: rows judged by the error model (uncertainty, rule; no max_ulp, ulp_budget, floor); 3: the ULP
# budget and floors; 2: the trajectory's autograd side called `reference`; 1: the unversioned layout before, with ok,
# at and index beside status and sample_id, inf as "inf"
# The --derivation verdict's layout (derivations.py, distributed.py; docs/cli.md), raised when a key changes meaning or
# goes away. 1: ok and gradients_ok where status is now, an ok in every row beside its status, the training's
# autograd side called `reference`.
DERIVATION_SCHEMA = 4  # 4: a row's label is its name except in the lesson's neuron (delta_J_delta_z there);
# derivation's check_inputs, a training first_divergence's role; 3: rows judged by the error model (allowance,
# uncertainty, rule, ratio; no max_ulp, ulp_budget, floor), the status "less accurate", training in lockstep with
# "diverged"; 2: the autograd side named autograd
PLACE = ("at", "index", "deciding")  # Row's own place fields (positions among the samples compared), replaced by
# position and sample_id


def intermediates(v: Verification) -> list[dict]:
    """v: a streamed verification (cli/streaming.py), whose `at` counts among the kept samples and `index` from the
    file's first row."""
    return [
        {
            **{k: value for k, value in asdict(r).items() if k not in PLACE},
            "position": r.index[0],
            "sample_id": v.ids[r.at],
        }
        for r in v.report.rows
    ]


def trajectory(t: TrajectoryReport, ids: list[int]) -> dict:
    def step(d) -> dict | None:
        if d is None:
            return None
        fields = {k: value for k, value in asdict(d).items() if k != "sample"}
        return {**fields, "position": d.sample, "sample_id": ids[d.sample]}

    return {
        "status": t.status,
        "steps": t.steps,
        "max_abs_diff": t.max_abs,
        "first_divergence": step(t.first),
        "overflow": step(t.overflow),
    }


def run(device: str, dtype: str, v: Verification, t: TrajectoryReport, trajectory_ids: list[int]) -> dict:
    """v: the streamed verification of the file; t: the trajectory over the samples trajectory_ids."""
    first = v.report.first_divergence
    return {
        "device": device,
        "dtype": dtype,
        "status": "MISMATCH" if not v.ok else t.status,
        "samples": v.report.rows[0].numel,
        "first_divergent_intermediate": None if first is None else first.label,
        "intermediates": intermediates(v),
        "trajectory": trajectory(t, trajectory_ids),
    }


def finite_or_null(value):
    """JSON has no NaN or inf: null, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_null(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_null(v) for v in value]
    return value


def verdict(context: dict, runs: list[dict]) -> dict:
    """status MISMATCH (exit code 1) if any run disagrees, else ok (0). An overflow without a mismatch is not
    written: the command exits 2 before."""
    mismatch = any(r["status"] == "MISMATCH" for r in runs)
    return {
        "schema": SCHEMA,
        "status": "MISMATCH" if mismatch else "ok",
        "exit_code": 1 if mismatch else 0,
        **context,
        "torch": torch.__version__,
        "runs": runs,
    }


def write(path: str | Path, document: dict) -> None:
    """Called once the run is over: bad input exits before, leaving an earlier verdict as it was. Written beside
    it under a temporary name, then renamed over it (atomic on POSIX and Windows): a reader, or a Ctrl-C, never
    sees half a verdict; an interrupted write leaves the earlier one and no temporary file."""
    path = Path(path)
    text = json.dumps(finite_or_null(document), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # as open() would create it; mkstemp's is 0o600
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
