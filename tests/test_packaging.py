"""The package as others install it: the data sets travel with it and are found through importlib.resources, not by
a path into the clone; the wheel carries them; the shipped GitHub workflow runs the README's commands.
(`.ci/run` installs the wheel in a fresh venv and runs it from outside the clone.)"""

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from backprop_manual._data import bundled
from filelock import FileLock  # torch's own dependency

ROOT = Path(__file__).resolve().parents[1]
DATA_SETS = sorted(p.name for p in (ROOT / "data").glob("*.csv"))
PACKAGES = sorted(str(p.parent.relative_to(ROOT)) for p in (ROOT / "backprop_manual").rglob("__init__.py"))


@pytest.mark.parametrize("name", DATA_SETS)
def test_each_data_set_is_found_through_the_package(name):
    found = bundled(name)
    assert found.read_bytes() == (ROOT / "data" / name).read_bytes()


@pytest.mark.parametrize("module", sorted(str(p.relative_to(ROOT)) for p in (ROOT / "backprop_manual").rglob("*.py")))
def test_no_module_finds_data_by_a_path_into_the_clone(module):
    # Installed from a wheel, backprop_manual/../data is site-packages/data: the old CELL_DATA failed there.
    source = (ROOT / module).read_text(encoding="utf-8")
    assert not re.search(r"parents\[\d\]|\.parent\.parent|\"data\"\s*/", source), f"{module}: use _data.bundled(name)"


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """The wheel, built once per run: under `pytest -n auto` the workers share it through a lock in their common
    temporary directory (pytest-xdist's recipe), as two builds at once in one source tree collide in its build/
    (pip wheel exited 1 in 3 of 4 runs here once the suite's tests were handed out one at a time)."""
    shared = tmp_path_factory.getbasetemp().parent  # the run's, above each worker's own
    out = shared / "wheel"
    with FileLock(str(shared / "wheel.lock")):
        if not list(out.glob("backprop_manual-*.whl")):
            # --no-build-isolation: this venv's setuptools, no index needed (the isolated build is .ci/run's)
            cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out)]
            subprocess.run([*cmd, str(ROOT)], check=True, capture_output=True)
    (built,) = out.glob("backprop_manual-*.whl")
    return zipfile.ZipFile(built)


@pytest.mark.parametrize("name", [*DATA_SETS, "README.md"])
def test_the_wheel_carries_the_data_sets_and_their_provenance(wheel, name):
    assert f"backprop_manual/_data/{name}" in wheel.namelist()


@pytest.mark.parametrize("package", PACKAGES)
def test_the_wheel_carries_every_package(wheel, package):
    assert f"{package}/__init__.py" in wheel.namelist()


def readme_commands() -> set[str]:
    """Every line of the README's ```bash blocks (end-of-line comments dropped) and every inline `code` span."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = [ln for block in re.findall(r"```bash\n(.*?)```", readme, re.S) for ln in block.splitlines()]
    return {re.sub(r"\s+#.*$", "", ln).strip() for ln in lines} | set(re.findall(r"`([^`\n]+)`", readme))


WORKFLOW = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
RUNS = [
    pytest.param(job, re.sub(r"\s+#.*$", "", step["run"]).strip(), id=f"{job}-{i}")
    for job, spec in WORKFLOW["jobs"].items()
    for i, step in enumerate(spec["steps"])
    if "run" in step
]


@pytest.mark.parametrize("job, command", RUNS)
def test_each_command_of_the_workflow_is_one_of_the_readmes(job, command):
    assert command in readme_commands(), f"{job}: {command!r} is not a README command"


@pytest.mark.parametrize(
    "command",
    ["backprop-manual", "pytest -n auto", "ruff check . && ruff format --check .", "pytest --device cuda"],
)
def test_the_workflow_runs_the_readmes_main_commands(command):
    assert command in [c for _, c in (p.values for p in RUNS)]
