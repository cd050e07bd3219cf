"""The command line, `backprop-manual`: parsing and exit codes (main.py), what verify and train do with the neuron
(commands.py; both loops side by side: side_by_side.py), --derivation and `derivations` (derivations.py; a sharded
layer: distributed.py), chunk-by-chunk verification of a CSV (streaming.py), the JSON verdict (verdict.py), the
training figure (plot.py), and what they all share (usage.py). No module here imports one that imports it
(tests/test_layers.py).

Exit codes: 0 all asked for was verified and agrees, 1 a real disagreement, 2 bad input or usage, 3 a bug in
backprop-manual, 130 interrupted, 141 a closed pipe.
"""
