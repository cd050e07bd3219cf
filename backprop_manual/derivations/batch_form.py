"""A per-sample derivation (PER_SAMPLE = True, one J_i per sample) as a batch one: one scalar J per step.

A full-batch step (verify_training without per_sample, any optimizer) wants one scalar J; the neuron's forward
gives one J per sample. (verify_training's per-sample mode takes the per-sample forward as it is.)
    reduce="sum":   J = sum_i J_i          one sample per step makes J that sample's J_i: the lesson's loop
    reduce="mean":  J = (1/N) sum_i J_i    the full-batch mean, as derivations/matrix.py takes it
The samples do not interact, so by hand, with s = 1 (sum) or 1/N (mean):
    dJ/d(intermediate)_i = s · dJ_i/d(intermediate)_i
    dJ/d(input)_i        = s · dJ_i/d(input)_i              (a checked input, check_inputs: its own shape, as is)
    dJ/d(parameter)      = s · sum_i dJ_i/d(parameter)      (the per-sample backward gives one per sample)
"""

from collections.abc import Callable, Iterable

from backprop_manual.check.graph import LOSS


def batch_form(
    forward: Callable, backward: Callable, reduce: str = "sum", check_inputs: Iterable[str] = ()
) -> tuple[Callable, Callable]:
    """(forward, backward) of J = sum_i J_i or mean_i J_i, from a per-sample forward and backward; the gradients of
    the inputs named in check_inputs are per sample already, like an intermediate's."""
    per_sample = set(check_inputs)
    if reduce not in ("sum", "mean"):
        raise ValueError(f"reduce is 'sum' or 'mean', not {reduce!r}")

    def batch_forward(**args):
        out = forward(**args)
        return {**out, LOSS: out[LOSS].sum() if reduce == "sum" else out[LOSS].mean()}

    def batch_backward(fwd, **args):
        grads = backward(fwd, **args)
        n = next(t.shape[0] for k, t in fwd.items() if k != LOSS)  # every intermediate is [N, ...]
        s = 1 if reduce == "sum" else 1 / n
        return {k: s * (g if k in fwd or k in per_sample else g.sum(0)) for k, g in grads.items()}

    return batch_forward, batch_backward
