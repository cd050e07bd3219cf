"""The oracle: autograd on the forward, every named intermediate and every parameter in one torch.autograd.grad.

batch mode:      J = forward(...)["loss"], a scalar; dJ/d(name) for every intermediate and parameter.
per-sample mode: J_i = forward(...)["loss"][i], one per sample (the samples along every input's first dimension);
                 dJ_i/d(intermediate)_i from the summed loss (the samples do not interact), and each sample's own
                 dJ_i/d(parameter) by torch.func.vmap(torch.func.grad(J_i)): shape [N, *parameter.shape].
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from backprop_manual.check.graph import LOSS, ChainUsageError


@dataclass
class Oracle:
    loss: torch.Tensor  # in autograd's graph
    intermediates: dict[str, torch.Tensor]  # in the forward's order, in the graph
    leaves: dict[str, torch.Tensor]  # the parameters as leaves of the graph
    gradients: dict[str, torch.Tensor]  # dJ/d(name), every intermediate and parameter


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
    forward: Callable, params: Mapping[str, torch.Tensor], inputs: Mapping, *, per_sample: bool, samples: int | None
) -> Oracle:
    leaves = {k: p.detach().requires_grad_(True) for k, p in params.items()}
    with torch.enable_grad():
        out = call_forward(forward, leaves, inputs, per_sample=per_sample, samples=samples)
        loss = out.pop(LOSS)
        constant = [n for n, t in out.items() if not t.requires_grad]
        if constant or not loss.requires_grad:
            what = f"{', '.join(map(repr, constant))} " if constant else "the loss "
            raise ChainUsageError(
                f"the forward's {what}does not depend on any parameter ({', '.join(params)}): autograd has no "
                "gradient for it; compute it from the parameters, or leave it out of the forward's dict"
            )
        targets = [*out.values(), *([] if per_sample else leaves.values())]
        total = loss.sum() if per_sample else loss
        grads = torch.autograd.grad(total, targets, retain_graph=True, allow_unused=True, materialize_grads=True)
    gradients = dict(zip([*out, *([] if per_sample else leaves)], grads, strict=True))
    if per_sample:
        gradients.update(per_sample_parameter_gradients(forward, params, inputs))
    return Oracle(loss, out, leaves, gradients)


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
