"""The suite's --device and --dtype come from backprop_manual's pytest plugin, backprop_manual/pytest_plugin.py,
which the package's pytest11 entry point loads in every pytest run: registering them here too would be a duplicate
option error. The stress battery's summary (tests/stress/summary.py) is loaded here because pytest-xdist's
controller, which prints it, reads only the root conftest (the suite's other hooks are in tests/conftest.py); the
file stays for mutmut too, whose also_copy names it.
"""

pytest_plugins = ["tests.stress.summary"]


def pytest_configure(config):
    """pytest-xdist hands a worker one test at a time (--maxschedchunk=1, unless the command line says otherwise), so
    that the `heavy` tests, collected first (tests/conftest.py), start first on whichever worker is free. Set here, in
    the root conftest that xdist's controller reads, not in pyproject's addopts: there the option would be unknown,
    a usage error, to a run without xdist (`pytest -p no:xdist`, serially, under a debugger)."""
    if config.pluginmanager.hasplugin("xdist") and getattr(config.option, "maxschedchunk", None) is None:
        config.option.maxschedchunk = 1
