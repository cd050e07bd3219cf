"""layouts.py and report.judge without ranks: chunks (uneven, empty), a rank's view, blame on a Shard or Partial row.
No process is started here: these run in the default suite."""

from types import SimpleNamespace

import pytest
import torch
from torch.distributed.tensor import Partial, Replicate, Shard

from backprop_manual.check import verify_chain
from backprop_manual.distributed.derivations import tp_mlp
from backprop_manual.distributed.launcher import _collect
from backprop_manual.distributed.layouts import ALL, bounds, chunk, view
from backprop_manual.distributed.ranks import RankFailure, ToolBug
from backprop_manual.distributed.report import _returning, judge


@pytest.mark.parametrize(
    ("size", "world", "expected"),
    [
        pytest.param(6, 2, [(0, 3), (3, 6)], id="even"),
        pytest.param(5, 2, [(0, 3), (3, 5)], id="uneven-last-shorter"),
        pytest.param(6, 4, [(0, 2), (2, 4), (4, 6), (6, 6)], id="last-rank-empty"),
    ],
)
def test_bounds_are_torch_chunks(size, world, expected):
    full = torch.arange(float(size))
    assert bounds(full.shape, Shard(0), world) == expected
    for r, (a, b) in enumerate(expected):
        assert torch.equal(chunk(full, Shard(0), r, world), full[a:b]), f"rank {r}"


def test_a_rank_view_of_a_shard_is_its_chunk_in_the_full_tensor_and_a_partial_the_sum():
    full = torch.arange(12.0).reshape(3, 4)
    mine = [torch.full((3, 2), -1.0), torch.full((3, 2), -2.0)]
    seen = view("W", Shard(1), mine, full, 1)
    assert torch.equal(seen[:, :2], full[:, :2]) and torch.equal(seen[:, 2:], mine[1])
    assert view("W", Shard(1), [torch.zeros(2, 3), torch.zeros(2, 3)], full, 0).shape == (2, 3)  # left for "shape"
    assert torch.equal(view("x", Partial(), [full, 2 * full], full, 0), 3 * full)
    assert torch.equal(view("x", Replicate(), [full, 2 * full], full, 1), 2 * full)


def results(world: int, change=None) -> list[dict]:
    """What ranks that hold tp_mlp's shards and the exact gradients would send back; change(rank, grads) edits them."""
    forward, params, inputs = tp_mlp.reference()
    full = verify_chain(forward, _returning({}), params, inputs).autograd
    with torch.no_grad():
        values = forward(**params, **inputs)
    out = []

    def mine(name, t, r):
        p = tp_mlp.layouts.get(name, Replicate())
        return chunk(t, p, r, world) if isinstance(p, Shard) else t

    for r in range(world):
        grads = {k: mine(k, t, r).clone() for k, t in full.items()}
        if change:
            change(r, grads)
        out.append(
            {
                "params": {k: mine(k, t, r) for k, t in params.items()},
                "forward": {k: mine(k, t, r) for k, t in values.items()},
                "gradients": grads,
            }
        )
    return out


def test_a_wrong_element_of_a_shard_is_blamed_on_the_rank_that_holds_it():
    forward, params, inputs = tp_mlp.reference()

    def wrong(rank, grads):
        if rank == 1:
            grads["W1"][0, 0] += 1

    report = judge(forward, params, inputs, tp_mlp.layouts, results(2, wrong))
    first = report.first_divergence
    assert (first.name, first.rank, first.status) == ("W1", 1, "MISMATCH"), report.message()
    assert report.chains[0].ok, "rank 0's own chunk of dJ/dW1 is right: its table says so"


def test_a_wrong_summand_of_a_partial_gradient_is_blamed_on_all_ranks():
    forward, params, inputs = tp_mlp.reference()

    def halves(rank, grads):
        grads["x"] = grads["x"] / 2 + (rank == 1)  # the summands of dJ/dx, one of them off by 1

    layouts = tp_mlp.layouts | {"x": Partial()}
    first = judge(forward, params, inputs, layouts, results(2, halves)).first_divergence
    assert (first.name, first.rank) == ("x", ALL)
    fine = judge(forward, params, inputs, layouts, results(2, lambda r, g: g.update(x=g["x"] / 2)))
    assert fine.ok, fine.message()


@pytest.mark.parametrize(
    ("status", "raised", "message"),
    [
        pytest.param("bug", ToolBug, "internal error in rank 0: Traceback", id="bug"),
        pytest.param("raised", RankFailure, "rank 0 raised: the backward raised ValueError", id="raised"),
    ],
)
def test_what_a_rank_reports_becomes_exit_3_for_a_bug_of_ours_and_a_rank_failure_for_the_users(
    tmp_path, status, raised, message
):
    detail = "Traceback ..." if status == "bug" else "the backward raised ValueError: x"
    torch.save({"status": status, "detail": detail}, tmp_path / "rank0.pt")
    (tmp_path / "rank0.started").touch()
    with pytest.raises(raised, match=message):
        _collect(SimpleNamespace(processes=[]), tmp_path, 1, timeout=5)


def broken_reference():
    raise KeyError("W1")


def test_a_reference_that_raises_is_a_usage_error_naming_it_before_any_rank_starts():
    import backprop_manual
    from backprop_manual.check import ChainUsageError
    from backprop_manual.distributed import verify_distributed

    assert backprop_manual.verify_distributed is verify_distributed and "verify_distributed" in backprop_manual.__all__
    with pytest.raises(ChainUsageError, match=r"reference\(\) raised KeyError: 'W1'"):
        verify_distributed(broken_reference, tp_mlp.sharded, tp_mlp.layouts)
