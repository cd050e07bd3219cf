"""The stress battery (issue 16, "Proof, in the tests"): `pytest -m stress`, deselected by default.

(i)   every correct derivation of cases.py, in every dtype and seed, verifies ok (1,044 verifications);
(ii)  every planted error (battery.py: 16 times autograd's own measured error, at one element or one row of a
      [B, T, T] gradient) is a MISMATCH first at the name where it was planted;
(iii) over the whole battery: no false alarm, J finite and elements compared everywhere, and the largest
      |diff| / allowance (1 / headroom, over every row) at most 0.25;
(iv)  the float32 verdicts are the same under every ATEN_CPU_CAPABILITY and MKL_CBWR setting, each in a subprocess.
Each verification runs once per process (battery.verified is cached): the summary reuses the per-case tests' work.
"""

import json
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

from tests.stress import battery
from tests.stress.capability import float32_verdicts
from tests.stress.cases import CASES

pytestmark = pytest.mark.stress

ROOT = Path(__file__).resolve().parents[2]
MIN_VERIFICATIONS = 1000


@pytest.mark.parametrize(
    "case,dtype_name,seed", [pytest.param(*v, id=f"{v[0]}-{v[1]}-seed{v[2]}") for v in battery.verification_ids()]
)
def test_correct_derivation_verifies(case, dtype_name, seed):
    v = battery.verified(case, dtype_name, seed)
    assert math.isfinite(v.loss), f"{v.id}: J = {v.loss} is not finite: the case itself is broken"
    assert v.report is not None, f"{v.id}: verify_chain raised {v.error}"
    v.report.assert_ok()


@pytest.mark.parametrize(
    "case,dtype_name,seed,name,kind",
    [pytest.param(*p, id=f"{p[0]}-{p[1]}-seed{p[2]}-{p[3]}-{p[4]}") for p in battery.plant_ids()],
)
def test_planted_error_is_caught_on_its_name(case, dtype_name, seed, name, kind):
    v, plant = battery.planted(case, dtype_name, seed, name, kind)
    where = (
        f"{v.id}: {kind} {plant.index} of dJ/d{name} moved by {plant.delta:.3g} (16 x autograd's own error "
        f"{plant.error:.3g}; max |dJ/d{name}| {plant.scale:.3g})"
    )
    assert v.report is not None, f"{where}: verify_chain raised {v.error}"
    first = v.report.first_divergence
    assert first is not None, f"{where}: not caught\n{v.report.message()}"
    assert (first.name, first.status) == (name, "MISMATCH"), f"{where}: blamed on the wrong row\n{v.report.message()}"


def test_battery_no_false_alarm_and_nothing_passes_by_a_hair():
    """Over every verification of a correct derivation: J finite, elements compared, ok, and max |diff|/allowance
    <= 0.25. Prints the counts, the failures per category and dtype, and the worst ratio with where it is."""
    results = [battery.verified(*v) for v in battery.verification_ids()]
    elements = sum(v.elements for v in results)
    compared = sum(r.numel for v in results if v.report is not None for r in v.report.rows)
    failing = [v for v in results if not v.ok]
    per = Counter((CASES[v.case].category, v.dtype) for v in failing)
    ratio, worst = max(((v.ratio[0], v) for v in results if v.report is not None), key=lambda x: x[0])
    print(
        f"\n{len(results)} verifications, {elements} elements ({compared} compared in rows), "
        f"{sum(v.seconds for v in results):.1f} s in verify_chain; {len(failing)} false alarms"
        + "".join(f"\n  {cat} {dt}: {n}" for (cat, dt), n in sorted(per.items()))
        + f"\nlargest |diff| / allowance: {ratio:.3g} at {worst.id}, dJ/d{worst.ratio[1]}"
    )
    assert len(results) >= MIN_VERIFICATIONS, f"only {len(results)} verifications"
    assert all(math.isfinite(v.loss) for v in results), [v.id for v in results if not math.isfinite(v.loss)]
    assert all(v.elements > 0 for v in results)
    assert not failing, f"{len(failing)} false alarms, e.g. {[v.id for v in failing[:5]]}: {failing[0].error or ''}"
    assert ratio <= battery.RATIO_BOUND, f"{worst.id}: |diff| / allowance {ratio:.3g} at dJ/d{worst.ratio[1]}"


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return set(next((line.split(":", 1)[1] for line in text.splitlines() if line.startswith("flags")), "").split())


# Each setting changes the bits of float32 work: ATEN_CPU_CAPABILITY picks torch's vectorized kernels (sums,
# elementwise ops, softmax), MKL_CBWR MKL's code path for the matmuls (torch's CPU build calls MKL's BLAS).
SETTINGS = {  # three subprocesses (each imports torch: seconds), every capability and every MKL path among them
    "default-mkl-compatible": {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE"},
    "avx2-mkl-avx2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2"},
    "avx512": {"ATEN_CPU_CAPABILITY": "avx512"},
}


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_float32_verdicts_do_not_depend_on_the_cpu(setting):
    env = {**os.environ, **SETTINGS[setting], "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "tests.stress.capability"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    there = json.loads(done.stdout)
    flags = sorted(f for f in cpu_flags() if f in {"avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16"})
    print(
        f"\n{setting}: asked {SETTINGS[setting]}, torch dispatched to {there['capability']} "
        f"(here by default {torch.backends.cpu.get_cpu_capability()}; this CPU's flags: {' '.join(flags) or 'none'})"
    )
    here = float32_verdicts()
    changed = {k: (here[k], there["verdicts"].get(k)) for k in here if there["verdicts"].get(k) != here[k]}
    assert set(there["verdicts"]) == set(here), "the subprocess verified another set"
    assert not changed, f"{len(changed)} verdicts changed under {setting} (here, there): {changed}"


def test_every_plant_leaves_room_for_a_model():
    """The battery is satisfiable: at every plant, one allowance per gradient could pass the correct derivation with
    |diff| / allowance <= 0.25 and still catch the plant (battery.room). A self-check of the battery, whatever the
    verifier: a plant where no model can do both would judge the model by noise."""
    tight = []
    for p in battery.plant_ids():
        needed, planted = battery.room(*p)
        tight.append((planted / needed if needed else math.inf, p))
    worst = min(tight)
    print(f"\nthe tightest plant: {worst[1]}, planted |diff| / (4 correct |diff|) = {worst[0]:.3g}")
    assert all(r > 1 for r, _ in tight), [(f"{r:.3g}", p) for r, p in tight if r <= 1]
