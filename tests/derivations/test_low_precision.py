"""The GPT-path derivations' planted mistakes in bfloat16 and float16, at every point of helpers.POINTS.

Each mistake of tests/derivations/test_*.py is blamed on the same first (name, status) as in float32, except the
cells of OTHERWISE: there the outcome measured instead is asserted, with its reason. Every cell in every dtype, and
whether the dtype's own arithmetic saw it or only the float64 re-run: docs/precision.md, "The GPT derivations in every
dtype", the output of tests/derivations/by_dtype.py. The correct derivations run in both 16-bit dtypes in the default
suite (each test file's agree test); this matrix is marked stress (pytest -m stress), beside the error model's
battery: the only sets that leave the default run are stress, notebooks and distributed.
"""

from pathlib import Path

import pytest
import torch

from backprop_manual.derivations import attention
from tests.derivations import helpers
from tests.derivations.by_dtype import FORMS, SEEDS
from tests.derivations.helpers import LOW, POINTS, assert_blamed

CASES = [pytest.param(form, mistake, id=f"{form}-{mistake}") for form, f in FORMS.items() for mistake in f.mistakes]

FLASH_OVERFLOWS = (
    "at seed1 (scores up to 39) the wrong backward's own p overflows float16 (largest 65504): exp(scores - lse) above "
    "the diagonal reaches e^54.3 = 3.8e23 (mask forgotten), exp(scores) e^39 = 9e16 (lse not subtracted); the manual "
    "dJ/dscores is inf there: blamed on scores as in float32, as not finite rather than a MISMATCH"
)
# (form, mistake, dtype, point) -> ((name, status) measured instead of float32's, why)
OTHERWISE = {
    ("attention-flash", "flash-mask-forgotten", "float16", "seed1"): (("scores", "not finite"), FLASH_OVERFLOWS),
    ("attention-flash", "flash-lse-not-subtracted", "float16", "seed1"): (("scores", "not finite"), FLASH_OVERFLOWS),
}


@pytest.mark.stress
@pytest.mark.parametrize(("form", "mistake"), CASES)
@pytest.mark.parametrize("seed", POINTS)
@pytest.mark.parametrize("dtype", LOW)
def test_a_planted_mistake_is_blamed_first(device, dtype, seed, form, mistake):
    f = FORMS[form]
    backward, name, status = f.mistakes[mistake]
    point = next(k for k, v in SEEDS.items() if v == seed)
    expected, _why = OTHERWISE.get((form, mistake, str(dtype).removeprefix("torch."), point), ((name, status), ""))
    params, inputs = helpers.point(f.module, dtype, device, seed)
    assert_blamed(helpers.verify(f.module, backward, params, inputs, forward=f.forward), *expected)


def test_every_exception_is_a_cell_of_the_matrix():
    for form, mistake, dtype, point in OTHERWISE:
        assert mistake in FORMS[form].mistakes, (form, mistake)
        assert dtype in ("bfloat16", "float16") and point in SEEDS, (dtype, point)


def test_the_flash_mistakes_overflow_float16_at_seed1():
    """OTHERWISE's reason, measured: the wrong p of both flash mistakes is past float16's range at seed1, not at the
    example (where both are MISMATCHes as in float32)."""
    biggest = torch.finfo(torch.float16).max
    for seed, overflows in ((1, True), (None, False)):
        params, inputs = helpers.point(attention, torch.float64, "cpu", seed)
        f = attention.forward(**params, **inputs)
        unmasked = torch.exp(f["scores"] - f["lse"]).max()  # the mask forgotten
        unshifted = torch.exp(attention.causal(f["scores"])).max()  # lse not subtracted
        assert (float(unmasked) > biggest, float(unshifted) > biggest) == (overflows, overflows), (seed, unmasked)


def test_docs_have_a_table_row_for_every_mistake():
    """docs/precision.md's mistake × dtype tables (by_dtype.py's output, pasted) name every form and every mistake:
    a mistake planted since is a row the tables lack until they are measured again."""
    text = (Path(__file__).parents[2] / "docs" / "precision.md").read_text(encoding="utf-8")
    section = text.split("### The GPT derivations in every dtype", 1)[1].split("\n### ", 1)[0]
    for form, f in FORMS.items():
        table = section.split(f"\n| {form} | blamed |", 1)[1].split("\n\n", 1)[0]
        rows = [line.split(" | ", 1)[0].removeprefix("| ") for line in table.splitlines()[2:]]
        assert rows == ["correct", *f.mistakes], (form, rows)
