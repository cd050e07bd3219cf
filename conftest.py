"""The suite's --device and --dtype come from backprop_manual's pytest plugin, backprop_manual/pytest_plugin.py,
which the package's pytest11 entry point loads in every pytest run: registering them here too would be a duplicate
option error. The stress battery's summary (tests/stress/summary.py) is loaded here because pytest-xdist's
controller, which prints it, reads only the root conftest (the suite's other hooks are in tests/conftest.py); the
file stays for mutmut too, whose also_copy names it.
"""

pytest_plugins = ["tests.stress.summary"]
