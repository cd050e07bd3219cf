"""The command line, `backprop-manual`: parsing and exit codes (main.py), what verify and train do (commands.py),
--derivation and `derivations` (derivations.py), chunk-by-chunk verification of a CSV (streaming.py), the JSON
verdict (verdict.py) and the training figure (plot.py).

Exit codes: 0 all asked for was verified and agrees, 1 a real disagreement, 2 bad input or usage, 3 a bug in
backprop-manual, 130 interrupted, 141 a closed pipe.
"""
