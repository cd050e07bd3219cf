"""The suite's own scheduling (tests/conftest.py, the root conftest): the `heavy` tests are collected first, so that
pytest-xdist, handing out one test at a time (--maxschedchunk=1), starts them before the many short ones; and each
marked set (README, "The tests") is collected from the files that use its marker, all of them.
"""

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]


def test_heavy_tests_come_before_every_other_test(request):
    items = request.session.items
    heavy = [item.get_closest_marker("heavy") is not None for item in items]
    if not any(heavy):
        pytest.skip("no heavy test in this selection")
    assert heavy == sorted(heavy, reverse=True), [item.nodeid for item, h in zip(items, heavy) if h][:5]


def test_xdist_hands_out_one_test_at_a_time(pytestconfig):
    if not pytestconfig.pluginmanager.hasplugin("xdist"):
        pytest.skip("pytest-xdist is not loaded in this run (-p no:xdist): nothing is handed out")
    assert pytestconfig.getoption("maxschedchunk") == 1


def test_a_run_without_xdist_starts(pytester):
    """The suite's configuration asks nothing of pytest-xdist that a serial run (`pytest -p no:xdist`, a debugger)
    cannot parse: pyproject's addopts and the root conftest, in a project of one test."""
    pytester.makefile(".toml", pyproject=(ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pytester.makeconftest(
        (ROOT / "conftest.py")
        .read_text(encoding="utf-8")
        .replace('pytest_plugins = ["tests.stress.summary"]', "pytest_plugins = []")
    )
    pytester.makepyfile(test_one="def test_one():\n    assert True\n")
    result = pytester.runpytest("-p", "no:xdist", "-p", "no:randomly")
    assert result.ret == 0, (result.stdout.str()[-2000:], result.stderr.str()[-2000:])  # 4: a usage error
    result.assert_outcomes(passed=1)


ROOT = Path(__file__).resolve().parents[1]
SETS = ("stress", "distributed", "notebooks")  # the marked sets that leave the default run (pyproject's addopts)


def set_commands(text: str) -> dict[str, list[str]]:
    """marker -> the paths its `pytest -m marker ...` line names (each set is collected from its own files only: the
    others' would cost every worker seconds of imports and assertion rewriting, then be deselected)."""
    out = {}
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words[:2] == ["pytest", "-m"] and words[2] in SETS:
            out[words[2]] = [w for w in words[3:] if not w.startswith("-") and w != "auto"]
    return out


def test_each_marked_set_runs_every_file_that_uses_its_marker():
    readme = set_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    assert set(readme) == set(SETS), readme
    assert set_commands((ROOT / ".ci" / "run").read_text(encoding="utf-8")) == readme, "CI runs the README's lines"
    for marker, paths in readme.items():
        assert paths, f"pytest -m {marker} names no path"
        users = {p.relative_to(ROOT) for p in (ROOT / "tests").rglob("*.py") if f"mark.{marker}" in p.read_text()}
        outside = [str(u) for u in users if not any(u.is_relative_to(p) for p in paths)]
        assert users and not outside, f"pytest -m {marker} {' '.join(paths)} leaves out {outside}"
