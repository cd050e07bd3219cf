"""--dtype for the derivation tests that name their dtypes (helpers.DTYPES, the 16-bit ones among them by default):
`--dtype X` keeps their X cases only, as the plugin's own parametrization does; the default (all) keeps every one."""

from pathlib import Path

import pytest

from backprop_manual.check.compare import dtype_name

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    asked = config.getoption("--dtype", default="all")
    if asked in (None, "all"):
        return
    keep, drop = [], []
    for item in items:
        dtype = getattr(item, "callspec", None) and item.callspec.params.get("dtype")
        mine = item.path.is_relative_to(HERE) and dtype is not None
        (drop if mine and dtype_name(dtype) != asked else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
