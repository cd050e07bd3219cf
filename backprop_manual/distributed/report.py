"""The verdict over the ranks: each rank's parameters and stated forward values against its view of the reference's,
then its gradients through verify_chain, in chain order; the first divergent (name, rank) and a table per rank.

For rank r and a name with layout p (layouts.py), the gradient verify_chain judges is rank r's view of it as a full
tensor; the oracle is autograd on the unsharded reference. Chain order is the reference's. A Partial row is the
ranks' sum: its rank is "all".
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch.distributed.tensor import Partial, Shard
from torch.distributed.tensor.placement_types import Placement

from backprop_manual.check import ChainReport, ChainUsageError, verify_chain
from backprop_manual.check.graph import LOSS
from backprop_manual.distributed.layouts import ALL, chunk, describe, held, placement_of, view


@dataclass(frozen=True)
class Held:
    """One parameter or forward value a rank holds, against its view of the reference's."""

    name: str
    rank: int | str
    kind: str  # "parameter" or "forward value"
    layout: str
    status: str  # "ok", "missing", "wrong shard" (a parameter), "MISMATCH" (a forward value)
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class Divergence:
    name: str
    rank: int | str  # "all" for a Partial gradient (the ranks' sum) or a Partial loss
    stage: str  # "parameter", "forward value" or "gradient"
    status: str
    problem: str


@dataclass
class DistributedReport:
    world_size: int
    layouts: dict[str, Placement]
    held: list[Held]  # every rank's parameters, then its stated forward values
    chains: list[ChainReport]  # per rank: verify_chain on its view of the gradients
    partial: tuple[str, ...]  # the names whose rows are the ranks' sum

    @property
    def ok(self) -> bool:
        return all(h.ok for h in self.held) and all(c.ok for c in self.chains)

    @property
    def first_divergence(self) -> Divergence | None:
        """A wrong parameter first, then a wrong forward value, then the first gradient in chain order (on the
        lowest rank whose view of it disagrees; "all" for a Partial one)."""
        for h in self.held:
            if not h.ok:
                return Divergence(h.name, h.rank, h.kind, h.status, h.problem)
        for row in self.chains[0].rows if self.chains else ():
            for r, chain in enumerate(self.chains):
                mine = chain.row(row.name)
                if not mine.ok:
                    rank = ALL if row.name in self.partial else r
                    return Divergence(row.name, rank, "gradient", mine.status, mine.problem)
        return None

    def assert_ok(self) -> None:
        """AssertionError with the message (the first divergent name and rank, then every rank's table)."""
        __tracebackhide__ = True
        if not self.ok:
            raise AssertionError(self.message())

    def message(self) -> str:
        first = self.first_divergence
        layout = ", ".join(f"{k}: {describe(p)}" for k, p in self.layouts.items()) or "every name Replicate()"
        if first is None:
            head = f"every rank agrees: {len(self.held)} parameters and forward values, and every gradient"
        elif first.stage == "gradient":
            where = "the ranks' sum (Partial)" if first.rank == ALL else f"rank {first.rank} of {self.world_size}"
            chain = self.chains[0 if first.rank == ALL else first.rank]
            lines = chain.message().splitlines()
            head = f"{where}: " + "\n".join(
                lines[: next(i for i, x in enumerate(lines) if x.startswith("  gradient "))]
            )
        elif first.stage == "parameter":
            head = f"{first.name} on rank {first.rank}: {first.status} (before any gradient): {first.problem}"
        else:
            where = "the ranks' sum (Partial)" if first.rank == ALL else f"rank {first.rank}"
            head = f"{first.name} on {where}: the forward value disagrees (before any gradient): {first.problem}"
        parts = [f"{head}\n  world size {self.world_size}; gradients' layouts: {layout}"]
        for r, chain in enumerate(self.chains):
            mine = [h for h in self.held if h.rank in (r, ALL)]
            held_line = ", ".join(f"{h.name} {h.status}" for h in mine)
            parts.append(f"rank {r}: parameters and forward values: {held_line}\n{chain.table()}")
        return "\n".join(parts)


def reference_values(forward: Callable, params: Mapping, inputs: Mapping) -> dict[str, torch.Tensor]:
    """The reference's forward values, and "loss", without gradients."""
    with torch.no_grad():
        return {k: t for k, t in forward(**params, **inputs).items()}


def _held(name: str, kind: str, rank, layout: str, got, want: torch.Tensor) -> Held:
    if got is None:
        return Held(name, rank, kind, layout, "missing", f"rank {rank} has no {kind} {name}")
    bad = "wrong shard" if kind == "parameter" else "MISMATCH"
    if not isinstance(got, torch.Tensor) or got.shape != want.shape:
        shape = list(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
        return Held(name, rank, kind, layout, bad, f"rank {rank} holds {shape}, its view is {list(want.shape)}")
    try:
        torch.testing.assert_close(got, want)  # shape, dtype, device, then values within the dtype's default
    except AssertionError as e:
        text = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
        return Held(
            name, rank, kind, layout, bad, f"rank {rank}'s {kind} {name} is not its view of the reference's: {text}"
        )
    return Held(name, rank, kind, layout, "ok")


def judge(
    forward: Callable, params: Mapping, inputs: Mapping, layouts: Mapping[str, Placement], results: list[dict]
) -> DistributedReport:
    world = len(results)
    values = reference_values(forward, params, inputs)
    # the oracle's own gradients, to fill the other ranks' chunks of a rank's view: bit for bit what it compares with
    full = verify_chain(forward, _returning({}), params, inputs).autograd
    unknown = sorted({k for res in results for k in res["params"]} - set(params))
    if unknown:
        raise ChainUsageError(f"the ranks hold parameters {unknown} that the reference does not have")
    checks: list[Held] = []
    for r, res in enumerate(results):
        for name, p in params.items():
            layout = placement_of(layouts, name)
            want = held(p.detach(), layout, r, world)
            checks.append(_held(name, "parameter", r, describe(layout), res["params"].get(name), want))
    for name, layout in layouts.items():
        if name in params or name not in values:
            continue
        if name == LOSS and isinstance(layout, Partial):  # the ranks' J's sum to the reference's J
            got = [res["forward"].get(LOSS) for res in results]
            total = None if any(g is None for g in got) else torch.stack([g.reshape(()) for g in got]).sum()
            checks.append(_held(LOSS, "forward value", ALL, "Partial()", total, values[LOSS].reshape(())))  # "all"
            continue
        for r, res in enumerate(results):
            want = chunk(values[name], layout, r, world) if isinstance(layout, Shard) else values[name]
            checks.append(_held(name, "forward value", r, describe(layout), res["forward"].get(name), want))
    chains = []
    names = {k for res in results for k in res["gradients"]}
    for r in range(world):
        mine = {}
        for name in names:
            local = [res["gradients"].get(name) for res in results]
            got = view(name, placement_of(layouts, name), local, full.get(name, local[r]), r)
            if got is not None:
                mine[name] = got
        # each rank ran a forward of its own (its shard, its order of summation): its rounding is not autograd's
        chains.append(verify_chain(forward, _returning(mine), params, inputs, forward_rounding=True))
    partial = tuple(k for k, p in layouts.items() if isinstance(p, Partial) and k != LOSS)
    return DistributedReport(world, dict(layouts), checks, chains, partial)


def _returning(grads: dict[str, torch.Tensor]) -> Callable:
    def backward(fwd, **_):
        """rank r's gradients, gathered and assembled into full tensors by their layouts"""
        return dict(grads)

    return backward
