"""The suite's --device and --dtype come from backprop_manual's pytest plugin, backprop_manual/pytest_plugin.py,
which the package's pytest11 entry point loads in every pytest run: registering them here too would be a duplicate
option error. This repo has no hooks of its own; the file stays for mutmut, whose also_copy names it.
"""
