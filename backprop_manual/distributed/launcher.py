"""The ranks as processes the tool starts: torch.multiprocessing (forkserver), gloo, a FileStore, a deadline.

Each rank (_child) runs ranks._outcome and leaves its result in the run's temporary folder; the parent
(_collect) reads them as they come, and ends the run at the first rank that raised, broke the contract or died,
or that is still running `timeout` seconds after every rank was up (a collective another rank never entered):
RankFailure, the others killed. A failure of the tool's own inside a rank is ToolBug.
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
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from backprop_manual.check.graph import ChainUsageError
from backprop_manual.distributed.ranks import RankFailure, ToolBug, _outcome

LOOPBACK = "lo0" if sys.platform == "darwin" else "lo"
# forkserver: one server process imports torch and this package once (while no torch thread pool has started) and
# forks every rank from it, so only the first run of a process pays torch's import (2-3 s per rank here, 6-10 s on
# a loaded machine); spawn where forkserver does not exist (Windows).
START = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
PRELOAD = ["__main__", "torch", "torch.distributed", "torch.distributed.tensor", "backprop_manual.distributed.verify"]
GRACE_S = 30  # gloo's own timeout is the run's plus this: the parent's deadline, which names the rank, comes first
FAILURE_GRACE_S = 0.5  # after a rank fails, how long the others may take to report theirs (the lowest is named)
STARTUP_S = 300  # the ranks' start (the forkserver's first import of torch, the rendezvous): not the user's timeout


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
    deadline, start_deadline, failed_at = None, time.monotonic() + STARTUP_S, None
    while True:
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
        failed = [r for r in sorted(results) if results[r]["status"] != "ok"]
        dead = [
            r for r, p in enumerate(ctx.processes) if r not in results and not p.is_alive() and not _reported(folder, r)
        ]
        if failed and failed_at is None:
            failed_at = time.monotonic()
        # A failure: the others have FAILURE_GRACE_S to report theirs, so that the lowest failing rank is named
        # whichever finished first (the others may wait in a collective for the one that failed: not named).
        if failed and (len(results) == world_size or time.monotonic() > failed_at + FAILURE_GRACE_S):
            r = failed[0]
            raise RankFailure(r, results[r]["status"], results[r]["detail"])
        if dead and not failed:
            p = ctx.processes[dead[0]]
            raise RankFailure(
                dead[0], "died", f"exit code {p.exitcode} before reporting a result (os._exit, a signal?)"
            )
        if len(results) == world_size:
            return [results[r] for r in range(world_size)]
        if not failed and deadline is not None and time.monotonic() > deadline:
            late = [r for r in range(world_size) if r not in results]
            raise RankFailure(
                late[0],
                "timed out",
                f"still running {timeout:g} s after the ranks started (waiting in a collective that another rank never "
                f"entered?); rank{'s' if len(late) > 1 else ''} {', '.join(map(str, late))} killed",
            )
        time.sleep(0.02)


def _reported(folder: Path, rank: int) -> bool:
    return (folder / f"rank{rank}.pt").exists()
