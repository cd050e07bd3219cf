"""The notebooks of docs/notebooks run top to bottom without an error, and are committed without outputs.

Each notebook is one test, id its name (test_notebook_runs[00_lesson]), executed by nbclient, the engine nbmake
drives, in a fresh kernel with docs/notebooks as its working directory. A module rather than `--nbmake` in addopts:
addopts would run the notebooks in every pytest call, a single file's, each mutmut mutant's (its selection is a
list of test files), and the no-outputs check needs a test of its own anyway. Running them is marked `notebooks`,
which pyproject's addopts deselects: five fresh kernels took 131 s of a 534 s serial run on this loaded 2-core
machine, so `pytest -m notebooks` runs them as a step of their own (.ci/run, the README); the checks of the committed
files (listed, no outputs, every erratum pointed out) stay in the default run. `-p no:randomly` and xdist's `-n`
treat them as any test, and the --device/--dtype plugin leaves them alone: they take neither (the lesson is in
float64 on the CPU, as it prints its figures; the derivations' notebooks call their example at float64 on the CPU).
`pytest --nbmake docs/notebooks` also works, the same notebooks run by nbmake itself.
"""

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

DOCS = Path(__file__).resolve().parents[1] / "docs"
NOTEBOOKS_DIR = DOCS / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
TIMEOUT_S = 120  # per cell, for a loaded machine; the slowest (the lesson's 20-epoch loops) take ~1 s


def by_name(paths):
    return pytest.mark.parametrize("path", paths, ids=[p.stem for p in paths])


def test_every_notebook_is_listed_in_the_readme():
    readme = (NOTEBOOKS_DIR / "README.md").read_text(encoding="utf-8")
    assert NOTEBOOKS, f"no notebooks found in {NOTEBOOKS_DIR}"
    unlisted = [p.name for p in NOTEBOOKS if f"({p.name})" not in readme]
    assert not unlisted, f"docs/notebooks/README.md does not link {', '.join(unlisted)}: add a line for each"


def test_the_lesson_notebook_points_out_every_erratum():
    numbers = re.findall(r"^\| (\d+) \|", (DOCS / "errata.md").read_text(encoding="utf-8"), flags=re.MULTILINE)
    lesson = nbformat.read(NOTEBOOKS_DIR / "00_lesson.ipynb", as_version=4)
    text = "\n".join(c.source for c in lesson.cells if c.cell_type == "markdown")
    missing = [n for n in numbers if f"**Erratum {n}**" not in text]
    assert len(numbers) >= 15, f"docs/errata.md: expected its table of 15 errata, found rows {numbers}"
    assert not missing, f"00_lesson.ipynb has no markdown cell '**Erratum n**' for erratum {', '.join(missing)}"


@by_name(NOTEBOOKS)
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    stale = [
        f"cell {i}" + (f" (In [{c.execution_count}])" if c.execution_count is not None else "")
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and (c.outputs or c.execution_count is not None)
    ]
    assert not stale, (
        f"{path.name}: {', '.join(stale)} carry outputs or execution counts, which go stale the moment the code "
        f"changes; clear them: in Jupyter, Edit > Clear Outputs of All Cells, or (nbconvert comes with jupyterlab) "
        f"jupyter nbconvert --clear-output --inplace docs/notebooks/{path.name}"
    )


@pytest.mark.notebooks
@by_name(NOTEBOOKS)
def test_notebook_runs(path):
    nb = nbformat.read(path, as_version=4)
    here = {"metadata": {"path": str(path.parent)}}  # the kernel's working directory, as Jupyter gives it
    client = NotebookClient(nb, timeout=TIMEOUT_S, kernel_name="python3", resources=here)
    try:
        client.execute()
    except CellExecutionError as error:
        failed = next(
            (i for i, c in enumerate(nb.cells) if any(o.output_type == "error" for o in c.get("outputs", ()))), None
        )
        pytest.fail(f"{path.name}, cell {failed}: {error}", pytrace=False)
