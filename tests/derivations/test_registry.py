"""backprop_manual.derivations.SHIPPED: every name imports, has the interface and verifies in both dtypes."""

import importlib
import math

import pytest
import torch

from backprop_manual.check import verify_chain
from backprop_manual.derivations import SHIPPED

NAMES = [pytest.param(name, id=name) for name in SHIPPED]


@pytest.mark.parametrize("name", NAMES)
def test_a_shipped_derivation_has_the_interface(name):
    path, description = SHIPPED[name]
    module = importlib.import_module(path)
    missing = [f for f in ("forward", "backward", "example") if not callable(getattr(module, f, None))]
    assert not missing, f"{path} lacks {', '.join(missing)}"
    assert isinstance(description, str) and description, f"{name}: no description"
    assert getattr(module, "PER_SAMPLE", False) in (True, False), f"{path}.PER_SAMPLE is True or absent"
    lr = getattr(module, "LR", 1.0)
    assert isinstance(lr, float) and 0 < lr < math.inf, f"{path}.LR = {lr!r}: a finite learning rate > 0"
    assert module.__doc__ and "dJ/d" in module.__doc__, f"{path}: the docstring is the formula, dJ/d... by hand"
    checked = getattr(module, "CHECK_INPUTS", ())
    assert isinstance(checked, tuple) and set(checked) <= set(module.example(torch.float64, "cpu")[1]), (
        f"{path}.CHECK_INPUTS = {checked!r}: a tuple of names of example()'s inputs"
    )


@pytest.mark.parametrize("name", NAMES)
def test_a_shipped_derivation_verifies_on_cpu(name, dtype):
    module = importlib.import_module(SHIPPED[name][0])
    params, inputs = module.example(dtype, "cpu")
    assert {p.dtype for p in params.values()} == {dtype}, "example() gives parameters of the dtype asked for"
    report = verify_chain(
        module.forward,
        module.backward,
        params,
        inputs,
        per_sample=getattr(module, "PER_SAMPLE", False),
        check_inputs=getattr(module, "CHECK_INPUTS", ()),
    )
    report.assert_ok()
    assert report.dtype == dtype and report.device == torch.device("cpu")
