"""The GPT-path derivations in every dtype: the correct backward and each planted mistake (the MISTAKES of
tests/derivations/test_*.py), verified at each of helpers.POINTS in float64, float32, bfloat16 and float16.

Shared by tests/derivations/test_low_precision.py (its expectations) and docs/precision.md (its tables, this module's
printed output, pasted):

    python -m tests.derivations.by_dtype             # from the repository root; ~5 minutes on one core

A mistake is visible in a dtype when its verification blames the same first (name, status) as in float32. Below
float64 it can be seen two ways (check/chain.py): in the dtype's own arithmetic, where its relative size passes the
dtype's floor 8 · ½ε (the allowance on the rounding bound alone: float32 4.8e-7, bfloat16 3.1e-2, float16 3.9e-3),
or, within the dtype's rounding, only as mathematics, by the float64 re-run on the same values ("wrong as
mathematics"). Which one it was is in each cell.
"""

import math
import re
from dataclasses import dataclass
from types import ModuleType

import torch

from backprop_manual.check.model import MULTIPLIER, eps
from backprop_manual.derivations import attention, batchnorm, block, embedding, gelu, layernorm
from tests.derivations import helpers
from tests.derivations import test_attention as t_attention
from tests.derivations import test_batchnorm as t_batchnorm
from tests.derivations import test_block as t_block
from tests.derivations import test_embedding as t_embedding
from tests.derivations import test_gelu as t_gelu
from tests.derivations import test_layernorm as t_layernorm

DTYPES = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
SEEDS = {p.id: p.values[0] for p in helpers.POINTS}  # example: None, seed1: 1
AS_MATHEMATICS = "wrong as mathematics"  # chain.py's words for a row within its dtype's rounding, wrong in float64
OWN_RATIO = re.compile(r"own rounding, ratio ([^)]+)\)")  # ... and how far within it: |diff| / allowed in the dtype


@dataclass(frozen=True)
class Form:
    """One shipped derivation (its name in backprop_manual.derivations.SHIPPED): a module, which of its forwards,
    the correct backward, and the planted mistakes as name -> (backward, blamed name, status)."""

    module: ModuleType
    forward: object
    right: object
    mistakes: dict


def _with_status(mistakes: dict) -> dict:
    """(backward, name[, status]) -> (backward, name, status): status MISMATCH where the test file leaves it out."""
    return {k: (v if len(v) == 3 else (*v, "MISMATCH")) for k, v in mistakes.items()}


def _attention(backward) -> dict:
    """test_attention's mistakes are (the correct backward they edit, the wrong one, name): those editing `backward`."""
    return {k: (wrong, name, "MISMATCH") for k, (base, wrong, name) in t_attention.MISTAKES.items() if base is backward}


FORMS = {
    "batchnorm": Form(batchnorm, batchnorm.forward, t_batchnorm.right, _with_status(t_batchnorm.STEP_BY_STEP)),
    "batchnorm-fused": Form(batchnorm, batchnorm.forward_fused, t_batchnorm.fused, _with_status(t_batchnorm.FUSED)),
    "layernorm": Form(layernorm, layernorm.forward, t_layernorm.right, t_layernorm.MISTAKES),
    "gelu": Form(gelu, gelu.forward, t_gelu.right, _with_status(t_gelu.STEP_BY_STEP)),
    "gelu-fused": Form(gelu, gelu.forward_fused, gelu.backward_fused, _with_status(t_gelu.FUSED)),
    "attention": Form(attention, attention.forward, t_attention.right, _attention(t_attention.right)),
    "attention-flash": Form(attention, attention.forward, t_attention.flash, _attention(t_attention.flash)),
    "embedding": Form(embedding, embedding.forward, t_embedding.right, t_embedding.MISTAKES),
    "block": Form(block, block.forward, t_block.right, t_block.MISTAKES),
}


def floor(dtype: torch.dtype) -> float:
    """The smallest relative error the dtype's own arithmetic sees on the rounding bound alone: 8 · ½ε."""
    return MULTIPLIER * 0.5 * eps(dtype)


@dataclass(frozen=True)
class Outcome:
    blamed: tuple[str, str] | None  # the first divergence's (name, status); None where every row agrees
    finite: bool  # J was finite at the point (else nothing was verified)
    as_mathematics: bool  # the blamed row was within its dtype's rounding, caught by the float64 re-run only
    less_accurate: int  # rows right in float64 but less accurate than autograd in the dtype (ok)
    size: float  # the blamed row's relative error max |manual - autograd| / max |autograd| (nan: not a value row)
    own_ratio: float  # seen only as mathematics: the row's max |diff| / allowed in its own dtype (< 1); else nan

    def cell(self, expected: tuple[str, str] | None) -> str:
        """✓ blamed as expected in the dtype's own arithmetic, ✓⁶⁴ only as mathematics (the float64 re-run); for the
        correct backward ✓, or ✓ (n≈) with n rows less accurate than autograd; else what happened instead."""
        if not self.finite:
            return "J not finite"
        if self.blamed != expected:
            return "agree" if self.blamed is None else f"{self.blamed[0]}/{self.blamed[1]}"
        if expected is None:
            return f"✓ ({self.less_accurate}≈)" if self.less_accurate else "✓"
        return "✓⁶⁴" if self.as_mathematics else "✓"


def outcome(form: Form, backward, dtype: torch.dtype, device: str = "cpu", seed: int | None = None) -> Outcome:
    params, inputs = helpers.point(form.module, dtype, device, seed)
    report = helpers.verify(form.module, backward, params, inputs, forward=form.forward)
    first = report.first_divergence
    size = own = math.nan
    if first is not None and first.status == "MISMATCH":
        m, a = (t.detach().to(torch.float64) for t in (report.manual[first.name], report.autograd[first.name]))
        size = float((m - a).abs().max() / a.abs().max())
    as_mathematics = first is not None and first.problem.startswith(AS_MATHEMATICS)
    if as_mathematics:
        own = float(OWN_RATIO.search(first.problem).group(1))
    return Outcome(
        None if first is None else (first.name, first.status),
        report.loss_finite,
        as_mathematics,
        len(report.less_accurate),
        size,
        own,
    )


def measure(form: Form) -> dict:
    """(row, dtype name, point) -> Outcome, row "correct" or a mistake's name: every cell of the form's table."""
    rows = {"correct": form.right, **{k: b for k, (b, _, _) in form.mistakes.items()}}
    return {
        (row, dname, point): outcome(form, backward, dtype, seed=seed)
        for row, backward in rows.items()
        for dname, dtype in DTYPES.items()
        for point, seed in SEEDS.items()
    }


def table(name: str, form: Form, cells: dict) -> str:
    """One markdown table: the correct backward and each mistake, by dtype, each cell 'example · seed1'."""
    lines = [f"| {name} | blamed | rel. size | {' | '.join(DTYPES)} |", "|" + "---|" * (3 + len(DTYPES))]
    expected = {"correct": None, **{k: (n, s) for k, (_, n, s) in form.mistakes.items()}}
    for row, blamed in expected.items():
        got = [" · ".join(cells[row, d, p].cell(blamed) for p in SEEDS) for d in DTYPES]
        size = f"{cells[row, 'float64', 'example'].size:.2g}" if blamed and blamed[1] == "MISMATCH" else ""
        what = "all agree" if blamed is None else f"{blamed[0]}/{blamed[1]}"
        lines.append(f"| {row} | {what} | {size} | {' | '.join(got)} |")
    return "\n".join(lines)


def notes(name: str, form: Form, cells: dict) -> tuple[list[str], list[str]]:
    """The cells that are not a plain ✓: (another outcome than float32's, seen only as mathematics: the mistake's
    size against the dtype's floor and how far within the dtype's own allowance its row stayed)."""
    expected = {"correct": None, **{k: (n, s) for k, (_, n, s) in form.mistakes.items()}}
    other, mathematics = [], []
    for (row, dname, point), o in cells.items():
        mark, want = o.cell(expected[row]), "/".join(expected[row] or ("all agree",))
        if mark == "✓⁶⁴":
            mathematics.append(
                f"- {name} {row}, {dname}, {point}: relative size {cells[row, 'float64', point].size:.2g} against "
                f"the floor {floor(DTYPES[dname]):.2g}; {o.own_ratio:.2g} of {dname}'s own allowance"
            )
        elif not mark.startswith("✓"):
            other.append(f"- {name} {row}, {dname}, {point}: {mark} (float32: {want})")
    return other, mathematics


def main() -> None:
    torch.set_num_threads(1)
    print("floor 8·½ε: " + ", ".join(f"{k} {floor(d):.2g}" for k, d in DTYPES.items()))
    print(f"each cell: {' · '.join(SEEDS)}; rel. size: max |manual - autograd| / max |autograd| at the blamed row,")
    print("float64, example point\n")
    other, mathematics = [], []
    for name, form in FORMS.items():
        cells = measure(form)
        print(table(name, form, cells), end="\n\n", flush=True)
        o, m = notes(name, form, cells)
        other, mathematics = other + o, mathematics + m
    print(f"Other than in float32: {len(other)} cells", *other, sep="\n", end="\n\n")
    print(f"Seen only as mathematics (✓⁶⁴): {len(mathematics)} cells", *mathematics, sep="\n")


if __name__ == "__main__":
    main()
