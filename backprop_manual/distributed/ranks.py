"""What each rank runs and sends back, in ranks the tool starts (launcher.py) or in a process group already up.

    sharded(rank, world_size) -> (forward, backward, params, inputs)       inside the rank, the group up
    fwd = forward(**params, **inputs)                                      the rank's local intermediates, "loss"
    grads = backward(fwd, **params, **inputs)                              by hand; or, backward None, autograd
                                                                           through the forward's own Functions
Each rank's params, fwd and grads go back to the caller (launcher.py: a file per rank in the run's temporary
folder; in a group: all_gather_object, so every rank judges the same results). The comparison is not done here.
"""

import sys
from collections.abc import Callable, Mapping
from functools import partial

import torch
import torch.distributed as dist

from backprop_manual.check.graph import LOSS, ChainUsageError


class UserCodeRaised(Exception):
    """An exception in the derivation's own code inside a rank (sharded, forward, backward, its Functions)."""


class RankFailure(ChainUsageError):
    """A rank whose code raised, that timed out (a collective another rank never entered) or that died: exit 2."""

    def __init__(self, rank: int, kind: str, detail: str):
        self.rank, self.kind = rank, kind
        super().__init__(f"rank {rank} {kind}: {detail}")


class ToolBug(RuntimeError):
    """backprop_manual's own code failed inside a rank: a bug here, exit 3 (never a verdict)."""


def check_function(fn: Callable, role: str) -> None:
    """Spawned ranks import `fn` by its module and name: a lambda, a closure or a notebook's function cannot be."""
    base = fn.func if isinstance(fn, partial) else fn
    if not callable(base):
        raise ChainUsageError(f"{role} must be a function, not a {type(fn).__name__}")
    qualname = getattr(base, "__qualname__", "")
    module = sys.modules.get(getattr(base, "__module__", None) or "")
    fix = f"define {role} with def at the top level of a .py file and import it from there"
    if qualname.endswith("<lambda>"):
        raise ChainUsageError(f"{role} is a lambda: the spawned ranks import it by name, and a lambda has none; {fix}")
    if "<locals>" in qualname:
        raise ChainUsageError(
            f"{role} ({qualname}) is defined inside another function (a closure): the spawned ranks import it by "
            f"name and cannot reach it; {fix} (pass settings with functools.partial of it)"
        )
    if module is None or not getattr(module, "__file__", None):
        raise ChainUsageError(
            f"{role} ({qualname}) is defined in a notebook or the interactive interpreter: the spawned ranks, fresh "
            f"processes, import it by module and name and cannot see it; {fix}"
        )
    if getattr(module, qualname, None) is not base:
        raise ChainUsageError(
            f"{role} ({qualname}) is not what its module {module.__name__} calls {qualname}: the ranks would import "
            f"another function; {fix}"
        )


def _user(what: str, fn: Callable, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except Exception as e:
        text = str(e).strip().splitlines()
        raise UserCodeRaised(f"{what} raised {type(e).__name__}{': ' + text[0] if text else ''}") from e


def run_rank(sharded: Callable, rank: int, world_size: int) -> dict:
    """This rank's parameters, forward values and gradients (see the module's docstring), detached, on the CPU."""
    got = _user(f"sharded({rank}, {world_size})", sharded, rank, world_size)
    if not (isinstance(got, tuple | list) and len(got) == 4):
        raise ChainUsageError(f"sharded({rank}, {world_size}) must return (forward, backward, params, inputs)")
    forward, backward, params, inputs = got
    if not callable(forward) or not (backward is None or callable(backward)):
        raise ChainUsageError("sharded's forward must be a function, its backward a function or None")
    if not isinstance(params, Mapping) or not isinstance(inputs, Mapping):
        raise ChainUsageError("sharded's params and inputs must be dicts of name -> tensor")
    leaves = {k: p.detach().requires_grad_(backward is None) for k, p in params.items()}
    with torch.set_grad_enabled(backward is None):
        fwd = _user("the forward", forward, **leaves, **inputs)
    if not isinstance(fwd, Mapping) or LOSS not in fwd:
        raise ChainUsageError(f"rank {rank}'s forward must return a dict of named tensors with 'loss' among them")
    if backward is None:  # the hand-written part is the forward's autograd.Functions: autograd runs their backward
        names = [k for k, t in fwd.items() if k != LOSS and t.requires_grad] + list(leaves)
        tensors = [fwd[k] for k in names if k not in leaves] + list(leaves.values())
        grads = _user("the forward's backward", torch.autograd.grad, fwd[LOSS], tensors, materialize_grads=True)
        grads = dict(zip(names, grads))
    else:
        detached = {k: t.detach() for k, t in fwd.items()}
        with torch.no_grad():
            grads = _user("the backward", backward, detached, **leaves, **inputs)
        if not isinstance(grads, Mapping):
            raise ChainUsageError(f"rank {rank}'s backward must return a dict of gradients by name")

    def out(m: Mapping) -> dict:
        return {k: t.detach().cpu() if isinstance(t, torch.Tensor) else t for k, t in m.items()}

    return {"params": out(leaves), "forward": out(fwd), "gradients": out(grads)}


def _outcome(sharded: Callable, rank: int, world_size: int) -> dict:
    try:
        return {"status": "ok", **run_rank(sharded, rank, world_size)}
    except UserCodeRaised as e:
        return {"status": "raised", "detail": str(e)}
    except ChainUsageError as e:
        return {"status": "broke the contract", "detail": str(e)}


def in_group(sharded: Callable) -> list[dict]:
    """Inside a process group already up (torchrun, your own launcher): every rank runs, then every rank gets all
    the ranks' results (all_gather_object), so each judges the same and they agree on one verdict."""
    everyone: list = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, _outcome(sharded, dist.get_rank(), dist.get_world_size()))
    return everyone
