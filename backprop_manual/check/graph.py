"""Which named tensor feeds which, read from autograd's own graph, and the chain order that follows from it.

consumers[t] = the named tensors (intermediates, or "loss") computed directly from t, with no other named tensor
between them. Chain order is the order backpropagation reaches the names: a name comes only after every name it
feeds (a topological order of the backward graph). Among the names that are ready, a parameter goes first (right
after the output of the operation that uses it), then the intermediate computed last in the forward. Names that
do not reach the loss at all (their gradient is zero) come at the end.
"""

from collections.abc import Mapping

import torch

LOSS = "loss"


class ChainUsageError(ValueError):
    """A forward, a backward or their arguments that the verifier cannot use: the message says what and where."""


def _sources(named: Mapping[str, torch.Tensor], params: Mapping[str, torch.Tensor]) -> dict:
    """(node, output_nr) of each intermediate's grad_fn, and each parameter's AccumulateGrad, -> their names."""
    where: dict = {}
    for name, t in named.items():
        where.setdefault((t.grad_fn, t.output_nr), []).append(name)
    for name, p in params.items():
        where.setdefault(("leaf", id(p)), []).append(name)
    return where


def consumers(named: Mapping[str, torch.Tensor], params: Mapping[str, torch.Tensor]) -> dict[str, set[str]]:
    """For every intermediate and parameter: the names that consume it directly ("loss" among them)."""
    where = _sources({n: t for n, t in named.items() if t.grad_fn is not None}, params)
    fed: dict[str, set[str]] = {n: set() for n in (*named, *params) if n != LOSS}
    for c, t in named.items():
        if t.grad_fn is None:
            continue
        seen, stack = set(), [nf for nf in t.grad_fn.next_functions if nf[0] is not None]
        while stack:
            node, nr = stack.pop()
            key = ("leaf", id(node.variable)) if hasattr(node, "variable") else (node, nr)
            if key in where:
                for source in where[key]:
                    fed[source].add(c)
                continue
            if node in seen:
                continue
            seen.add(node)
            stack.extend(nf for nf in node.next_functions if nf[0] is not None)
    return fed


def chain_order(intermediates: list[str], params: list[str], fed: dict[str, set[str]]) -> list[str]:
    """Names in the order backpropagation reaches them (see the module's docstring)."""
    reaches = {LOSS}
    changed = True
    while changed:  # the names from which the loss can be reached
        changed = False
        for n, cs in fed.items():
            if n not in reaches and cs & reaches:
                reaches.add(n)
                changed = True
    order: list[str] = []
    done = {LOSS}
    pending = [n for n in (*intermediates, *params) if n in reaches and n != LOSS]
    while pending:
        ready = [n for n in pending if fed[n] & reaches <= done]
        if not ready:  # a cycle cannot happen in autograd's graph; keep the forward's order if it ever does
            ready = pending[:1]
        pick = next((n for n in ready if n in params), None)
        if pick is None:
            pick = max(ready, key=intermediates.index)
        order.append(pick)
        done.add(pick)
        pending.remove(pick)
    return order + [n for n in (*intermediates, *params) if n not in reaches and n != LOSS]
