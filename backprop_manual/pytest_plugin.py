"""A pytest plugin: --device and --dtype for any project that installs backprop_manual (entry point pytest11).

--device cpu|cuda|all (default: both collected; CUDA cases are skipped, with the reason, where there is no GPU)
--dtype float32|float64|all|bfloat16|float16 (default: all, which is float32 and float64; the 16-bit ones are
opt-in, so that no downstream project's tests change under the plugin)

Every test that takes a `device` or `dtype` argument is parametrized with words as ids: test_x[cuda-float32]. A test
that parametrizes `device` or `dtype` itself, or a project's own `device`/`dtype` fixture, is left alone.
Asking explicitly for --device cuda or all on a machine without CUDA is a usage error: a GPU CI runner must never go
green by skipping. `pytest -p no:backprop_manual` turns the plugin off.
A project (or another plugin) that has its own --device or --dtype keeps it: the plugin adds its options only after
the project's conftest.py has added its own, steps aside for the names it finds taken and says so in the header.
"""

import argparse

import pytest
import torch

DEVICES = ("cpu", "cuda")
DTYPES = {"float32": torch.float32, "float64": torch.float64}  # "all"
LOW = {"bfloat16": torch.bfloat16, "float16": torch.float16}  # opt-in, one at a time
NO_CUDA = (
    f"CUDA is not available (torch {torch.__version__}, torch.cuda.is_available() is False): "
    "run `pytest --device cuda` on a machine with a GPU"
)


OURS = pytest.StashKey[frozenset]()  # the names of "device" and "dtype" whose option is this plugin's
STEPPED_ASIDE = pytest.StashKey[set]()  # the names a project's own fixture (or pytest_generate_tests) took in a test
OPTIONS = {
    "device": dict(
        choices=("cpu", "cuda", "all"),
        default=None,
        help="run only this device's cases; cuda or all on a machine without CUDA is an error "
        "(default: cpu and cuda, cuda skipped with its reason where there is no GPU)",
    ),
    "dtype": dict(
        choices=(*DTYPES, "all", *LOW),
        default="all",
        help="run only this dtype's cases (all: float32 and float64; bfloat16, float16: opt-in)",
    ),
}


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]):
    """Add --device and --dtype once the project's conftest.py files have added their options, not in
    pytest_addoption: entry-point plugins register before a project's conftest.py, whose own --device would then
    fail ("option dest 'device' already used"). A name already taken is left to the project. pytest's hookspec gives
    this hook the parser "to add command line options"; the command line is parsed in full only after it."""
    result = yield
    ours = set()
    for name, attrs in OPTIONS.items():
        try:
            parser.getgroup("backprop_manual").addoption(f"--{name}", **attrs)
        except (ValueError, argparse.ArgumentError):  # pytest's "dest already used", argparse's "conflicting option"
            continue
        ours.add(name)
    early_config.stash[OURS] = frozenset(ours)
    early_config.stash[STEPPED_ASIDE] = set()
    return result


def ours(config: pytest.Config, name: str) -> bool:
    """--name is this plugin's (False where the project has its own, or pytest never loaded the initial conftests)."""
    return name in config.stash.get(OURS, frozenset())


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"backprop_manual: this project has its own --{name}, so the plugin leaves --{name} and the `{name}` argument "
        f"to it; to use the plugin's ({', '.join(OPTIONS[name]['choices'])}), remove the project's --{name} and its "
        f"`{name}` fixture; to silence this line, -p no:backprop_manual"
        for name in OPTIONS
        if not ours(config, name)
    ]


def pytest_configure(config: pytest.Config) -> None:
    asked = config.getoption("--device", default=None) if ours(config, "device") else None
    if asked in ("cuda", "all") and not torch.cuda.is_available():
        raise pytest.UsageError(f"--device {asked} was asked for, but {NO_CUDA.split(': run')[0]}")


def selected_devices(config: pytest.Config) -> list[str]:
    asked = config.getoption("--device")
    return [asked] if asked in DEVICES else list(DEVICES)


def selected_dtypes(config: pytest.Config) -> list[str]:
    asked = config.getoption("--dtype")
    return list(DTYPES) if asked == "all" else [asked]


def _parametrize_argnames(mark: pytest.Mark) -> list[str]:
    argnames = mark.kwargs.get("argnames", mark.args[0] if mark.args else ())
    return [a.strip() for a in argnames.split(",")] if isinstance(argnames, str) else list(argnames)


def left_to_the_test(metafunc: pytest.Metafunc, argname: str) -> bool:
    """The test parametrizes `argname` itself, or the project gives it a fixture: parametrizing again would fail
    ("duplicate parametrization") or silently override the project's fixture.

    The marks are read the way pytest's own fixture parametrization reads them (fixtures.py, pytest_generate_tests);
    the marks are applied after this hook, so they are not yet in the call specs. `_arg2fixturedefs` holds the
    project's fixtures and what an earlier hook has already parametrized; pytest has no public accessor for it.
    """
    marked = any(argname in _parametrize_argnames(m) for m in metafunc.definition.iter_markers("parametrize"))
    return marked or bool(getattr(metafunc, "_arg2fixturedefs", {}).get(argname))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize every test that takes `device` or `dtype`, with the words as ids: test_x[cuda-float32-...]."""
    for name in ("device", "dtype"):  # a fixture of the project's own (a test's own parametrize mark says nothing)
        if ours(metafunc.config, name) and getattr(metafunc, "_arg2fixturedefs", {}).get(name):
            metafunc.config.stash[STEPPED_ASIDE].add(name)
    if (
        "device" in metafunc.fixturenames
        and ours(metafunc.config, "device")
        and not left_to_the_test(metafunc, "device")
    ):
        metafunc.parametrize(
            "device",
            [
                pytest.param(d, id=d, marks=pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA))
                if d == "cuda"
                else pytest.param(d, id=d)
                for d in selected_devices(metafunc.config)
            ],
        )
    if "dtype" in metafunc.fixturenames and ours(metafunc.config, "dtype") and not left_to_the_test(metafunc, "dtype"):
        metafunc.parametrize(
            "dtype", [pytest.param({**DTYPES, **LOW}[n], id=n) for n in selected_dtypes(metafunc.config)]
        )


def pytest_report_collectionfinish(config: pytest.Config) -> list[str]:
    return [
        f"backprop_manual: some tests take this project's own `{name}` fixture or parametrization, which the plugin "
        f"leaves alone: --{name} does not select among their cases; to use the plugin's, remove the project's"
        for name in sorted(config.stash.get(STEPPED_ASIDE, ()))
    ]
