"""What each rank runs, and the ranks' results: started by the tool (spawn) or in a process group already up.

    sharded(rank, world_size) -> (forward, backward, params, inputs)       inside the rank, the group up
    fwd = forward(**params, **inputs)                                      the rank's local intermediates, "loss"
    grads = backward(fwd, **params, **inputs)                              by hand; or, backward None, autograd
                                                                           through the forward's own Functions
Each rank's params, fwd and grads go back to the caller (spawn: a file per rank in the run's temporary folder;
in a group: all_gather_object, so every rank judges the same results). The comparison is not done here.
"""

import importlib
import importlib.machinery
import importlib.util
import os
import pickle
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping
from datetime import timedelta
from functools import partial
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from backprop_manual.check.graph import LOSS, ChainUsageError

LOOPBACK = "lo0" if sys.platform == "darwin" else "lo"
# forkserver: one server process imports torch and this package once (while no torch thread pool has started) and
# forks every rank from it, so only the first run of a process pays torch's import (2-3 s per rank here, 6-10 s on
# a loaded machine); spawn where forkserver does not exist (Windows).
START = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
PRELOAD = ["__main__", "torch", "torch.distributed", "torch.distributed.tensor", "backprop_manual.distributed"]
GRACE_S = 30  # gloo's own timeout is the run's plus this: the parent's deadline, which names the rank, comes first
STARTUP_S = 300  # the ranks' start (the forkserver's first import of torch, the rendezvous): not the user's timeout


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


def _child(rank: int, world_size: int, folder: str, payload: bytes, preload: list, timeout: float) -> None:
    os.environ.setdefault("GLOO_SOCKET_IFNAME", LOOPBACK)
    torch.set_num_threads(1)  # the ranks share the machine's cores; their tensors are small
    try:
        try:
            for name, path in preload:  # a user's file, imported by path: not importable by name
                if name not in sys.modules:
                    spec = importlib.util.spec_from_file_location(name, path)
                    module = importlib.util.module_from_spec(spec)
                    sys.modules[name] = module
                    spec.loader.exec_module(module)
            sharded = pickle.loads(payload)
        except Exception as e:
            result = {"status": "raised", "detail": f"importing sharded raised {type(e).__name__}: {e}"}
        else:
            store = dist.FileStore(str(Path(folder) / "store"), world_size)
            dist.init_process_group(
                "gloo", store=store, rank=rank, world_size=world_size, timeout=timedelta(seconds=timeout + GRACE_S)
            )
            (Path(folder) / f"rank{rank}.started").touch()  # the user's timeout runs from here
            result = _outcome(sharded, rank, world_size)
    except Exception:
        result = {"status": "bug", "detail": traceback.format_exc()}
    part = Path(folder) / f"rank{rank}.part"
    torch.save(result, part)
    part.rename(Path(folder) / f"rank{rank}.pt")  # whole or absent: the parent never reads half a file
    # Stay until every rank has reported: a rank that left early would close its connections, and a rank still
    # waiting for it in a collective would fail with "connection closed" rather than be named as the one that hangs.
    deadline = time.monotonic() + timeout + GRACE_S
    while not (Path(folder) / "done").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    if dist.is_initialized():
        dist.destroy_process_group()


def _preload(fn: Callable) -> list[tuple[str, str]]:
    """(module name, file) of a module imported by path (a user's --derivation file), for the ranks to import: one
    whose top-level package is not on sys.path (PathFinder looks there only, not in sys.modules)."""
    name = (fn.func if isinstance(fn, partial) else fn).__module__
    if name != "__main__" and importlib.machinery.PathFinder.find_spec(name.partition(".")[0]) is not None:
        return []
    return [(name, sys.modules[name].__file__)]


def spawn(sharded: Callable, world_size: int, timeout: float) -> list[dict]:
    """world_size fresh processes (torch.multiprocessing, forkserver: see START) on gloo, rendezvous through a
    FileStore in a temporary folder (no port: safe beside pytest-xdist). A rank that raises, breaks the contract,
    dies, or is still running `timeout` seconds after the ranks started ends the run with a RankFailure naming it;
    the others are killed."""
    main_file = getattr(sys.modules["__main__"], "__file__", None)
    if main_file and not os.path.exists(main_file):  # python reading stdin: '<stdin>'
        raise ChainUsageError(
            f"the ranks start by importing this program's main file, and {main_file} is none: put the call to "
            "verify_distributed in a .py file (or a notebook, or python -c) and run that"
        )
    payload = pickle.dumps(sharded)
    if START == "forkserver":
        mp.set_forkserver_preload(PRELOAD)  # read when the server starts: the first run of this process
    with tempfile.TemporaryDirectory(prefix="backprop_manual_ranks_") as folder:
        ctx = mp.start_processes(
            _child,
            args=(world_size, folder, payload, _preload(sharded), timeout),
            nprocs=world_size,
            join=False,
            start_method=START,
        )
        try:
            return _collect(ctx, Path(folder), world_size, timeout)
        finally:
            (Path(folder) / "done").touch()
            for p in ctx.processes:
                p.join(timeout=1)
                if p.is_alive():
                    p.kill()
                    p.join()


def _collect(ctx, folder: Path, world_size: int, timeout: float) -> list[dict]:
    results: dict[int, dict] = {}
    deadline, start_deadline = None, time.monotonic() + STARTUP_S
    while len(results) < world_size:
        if deadline is None and all((folder / f"rank{r}.started").exists() for r in range(world_size)):
            deadline = time.monotonic() + timeout
        if deadline is None and time.monotonic() > start_deadline:
            raise ToolBug(f"the ranks did not start within {STARTUP_S} s (the forkserver, the FileStore rendezvous)")
        for r in range(world_size):
            f = folder / f"rank{r}.pt"
            if r not in results and f.exists():
                results[r] = torch.load(f, weights_only=False)
                if results[r]["status"] == "bug":
                    raise ToolBug(f"internal error in rank {r}: {results[r]['detail']}")
                if results[r]["status"] != "ok":
                    raise RankFailure(r, results[r]["status"], results[r]["detail"])
        for r, p in enumerate(ctx.processes):
            if r not in results and not p.is_alive() and not (folder / f"rank{r}.pt").exists():
                raise RankFailure(r, "died", f"exit code {p.exitcode} before reporting a result (os._exit, a signal?)")
        if len(results) < world_size and deadline is not None and time.monotonic() > deadline:
            late = [r for r in range(world_size) if r not in results]
            raise RankFailure(
                late[0],
                "timed out",
                f"still running {timeout:g} s after the ranks started (waiting in a collective that another rank never "
                f"entered?); rank{'s' if len(late) > 1 else ''} {', '.join(map(str, late))} killed",
            )
        time.sleep(0.02)
    return [results[r] for r in range(world_size)]
