"""The lesson's neuron verified: backprop_manual.neuron (the lesson) as one instance of backprop_manual.check (the
verifier). This folder sits above both; neither imports it.

verify.py      its oracle from torch's own ops, its rows by the lesson's names, verify_gradients
trajectory.py  the torch.nn + MSELoss + SGD loop and the step-by-step comparison with the lesson's loop
triage.py      the complex-step witness and gradcheck of the hand chain rule: which side is wrong
taylor.py      the Taylor remainder test
"""
