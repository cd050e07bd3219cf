"""The oracle: autograd on the forward, every named intermediate and every parameter in one torch.autograd.grad.

batch mode:      J = forward(...)["loss"], a scalar; dJ/d(name) for every intermediate and parameter.
per-sample mode: J_i = forward(...)["loss"][i], one per sample (the samples along every input's first dimension);
                 dJ_i/d(intermediate)_i from the summed loss (the samples do not interact), and each sample's own
                 dJ_i/d(parameter) by torch.func.vmap(torch.func.grad(J_i)): shape [N, *parameter.shape].
check_inputs:    inputs made leaves too (a layer's x), dJ/dx in the same torch.autograd.grad; per sample, from the
                 summed loss like an intermediate: row i of d(sum_j J_j)/dx is dJ_i/dx_i, x's own shape.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from backprop_manual.check.graph import LOSS, ChainUsageError


@dataclass
class Oracle:
    loss: torch.Tensor  # in autograd's graph
    intermediates: dict[str, torch.Tensor]  # in the forward's order, in the graph
    leaves: dict[str, torch.Tensor]  # the parameters, then the checked inputs, as leaves of the graph
    gradients: dict[str, torch.Tensor]  # dJ/d(name), every intermediate, parameter and checked input
    inputs: tuple[str, ...] = ()  # which leaves are checked inputs, not parameters


def call_forward(forward: Callable, params: Mapping, inputs: Mapping, *, per_sample: bool, samples: int | None):
    """forward(**params, **inputs), checked: a dict of tensors that holds "loss" of the mode's shape."""
    out = forward(**params, **inputs)
    if not isinstance(out, Mapping):
        raise ChainUsageError(f"the forward must return a dict of named tensors; it returned a {type(out).__name__}")
    if LOSS not in out:
        raise ChainUsageError(f"the forward's dict has no {LOSS!r} (J): its names are {', '.join(map(repr, out))}")
    for name, t in out.items():
        if not isinstance(t, torch.Tensor):
            raise ChainUsageError(f"the forward's {name!r} is a {type(t).__name__}, not a tensor")
        if name in params:
            raise ChainUsageError(f"the forward's {name!r} is also a parameter's name: give the intermediate its own")
    loss = out[LOSS]
    if per_sample and tuple(loss.shape) != (samples,):
        raise ChainUsageError(
            f"per_sample=True wants one J per sample, loss of shape [{samples}]; the forward's is {list(loss.shape)}"
        )
    if not per_sample and loss.ndim != 0:
        raise ChainUsageError(
            f"the loss must be a scalar (J summed or averaged over the batch); it has shape {list(loss.shape)}: "
            "reduce it, or pass per_sample=True for one J per sample"
        )
    return dict(out)


def autograd_oracle(
    forward: Callable,
    params: Mapping[str, torch.Tensor],
    inputs: Mapping,
    *,
    per_sample: bool,
    samples: int | None,
    check_inputs: tuple[str, ...] = (),
) -> Oracle:
    """Autograd's dJ/d(name) for every intermediate, parameter and checked input (names in `check_inputs`, which the
    caller has checked are floating-point tensors of `inputs`); see the module's docstring."""
    leaves = {k: p.detach().requires_grad_(True) for k, p in params.items()}
    watched = {k: inputs[k].detach().requires_grad_(True) for k in check_inputs}
    with torch.enable_grad():
        out = call_forward(forward, leaves, {**inputs, **watched}, per_sample=per_sample, samples=samples)
        loss = out.pop(LOSS)
        both = [n for n in out if n in watched]
        if both:
            raise ChainUsageError(
                f"the forward's {', '.join(map(repr, both))} is also a checked input's name: give the intermediate "
                "its own"
            )
        constant = [n for n, t in out.items() if not t.requires_grad]
        if constant or not loss.requires_grad:
            what = f"{', '.join(map(repr, constant))} " if constant else "the loss "
            on = "any parameter" + (" or checked input" if watched else "")
            raise ChainUsageError(
                f"the forward's {what}does not depend on {on} ({', '.join([*params, *watched])}): autograd has no "
                "gradient for it; compute it from the parameters, or leave it out of the forward's dict (an input's "
                "own gradient, a layer's dJ/dx: name the input in check_inputs)"
            )
        names = [*out, *([] if per_sample else leaves), *watched]
        targets = [*out.values(), *([] if per_sample else leaves.values()), *watched.values()]
        total = loss.sum() if per_sample else loss
        grads = torch.autograd.grad(total, targets, retain_graph=True, allow_unused=True, materialize_grads=True)
    gradients = dict(zip(names, grads, strict=True))
    if per_sample:
        gradients.update(per_sample_parameter_gradients(forward, params, inputs))
    return Oracle(loss, out, {**leaves, **watched}, gradients, tuple(watched))


def per_sample_parameter_gradients(forward: Callable, params: Mapping, inputs: Mapping) -> dict[str, torch.Tensor]:
    """Each sample's own dJ_i/d(parameter), vectorized: vmap over the inputs' first dimension of grad(J_i)."""
    names = list(params)
    batched = {k: v for k, v in inputs.items() if isinstance(v, torch.Tensor)}
    fixed = {k: v for k, v in inputs.items() if not isinstance(v, torch.Tensor)}

    def one_sample_loss(values, sample):
        return forward(**dict(zip(names, values, strict=True)), **sample, **fixed)[LOSS]

    values = tuple(params[k].detach() for k in names)
    try:
        grads = torch.func.vmap(torch.func.grad(one_sample_loss), in_dims=(None, 0))(values, batched)
    except Exception as e:  # the user's forward under vmap: say which mode needs what
        raise ChainUsageError(
            "per_sample=True runs the forward on one sample at a time under torch.func.vmap, and it failed there: "
            f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        ) from e
    return dict(zip(names, grads, strict=True))
