"""The package's top level is the verifier's names, at most 20, each documented in its docstring; the lesson's are
backprop_manual.neuron's, each documented there; the lesson's old top-level names still work for one release, with a
DeprecationWarning that names where they went."""

import re
import warnings

import pytest

import backprop_manual
from backprop_manual import neuron

MOST = 20  # a surface a reader can hold: more names are a sign that a layer leaked into the top level


def documented(module) -> set[str]:
    return set(re.findall(r"\w+", module.__doc__))


def test_the_top_level_is_small_and_every_name_documented():
    names = backprop_manual.__all__
    assert len(names) <= MOST, f"backprop_manual.__all__ has {len(names)} names, over {MOST}: {names}"
    assert len(set(names)) == len(names), f"a name twice in backprop_manual.__all__: {names}"
    undocumented = [n for n in names if n not in documented(backprop_manual)]
    assert not undocumented, f"not in backprop_manual's docstring: {undocumented}"
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # none of them is a deprecated name
        missing = [n for n in names if getattr(backprop_manual, n, None) is None]
    assert not missing, f"in backprop_manual.__all__ but not importable: {missing}"


def test_the_top_level_has_none_of_the_lessons_names():
    leaked = sorted(set(backprop_manual.__all__) & set(neuron.__all__))
    assert not leaked, f"the lesson's names in backprop_manual.__all__ (they are backprop_manual.neuron's): {leaked}"


def test_the_lessons_names_are_exported_and_documented_by_backprop_manual_neuron():
    undocumented = [n for n in neuron.__all__ if n not in documented(neuron)]
    assert not undocumented, f"not in backprop_manual.neuron's docstring: {undocumented}"
    missing = [n for n in neuron.__all__ if not hasattr(neuron, n)]
    assert not missing, f"in backprop_manual.neuron.__all__ but not there: {missing}"


@pytest.mark.parametrize("name", sorted(neuron.__all__))
def test_an_old_top_level_name_warns_and_still_works(name):
    with pytest.warns(DeprecationWarning, match=rf"backprop_manual\.neuron\.{name}\b") as caught:
        value = getattr(backprop_manual, name)
    assert value is getattr(neuron, name), f"backprop_manual.{name} is not backprop_manual.neuron.{name}"
    assert caught[0].filename == __file__, f"the warning points at {caught[0].filename}, not at the caller"


def test_an_old_name_imported_from_the_top_level_warns_and_works():
    with pytest.warns(DeprecationWarning, match=r"from backprop_manual\.neuron import gradients"):
        from backprop_manual import gradients
    assert gradients is neuron.gradients


def test_a_name_that_never_was_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'linear_function'"):
        backprop_manual.linear_function  # noqa: B018
