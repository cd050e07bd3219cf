"""derivations/embedding.py: token and position embedding, cross-entropy over a vocabulary through the tied head."""

import pytest
import torch
import torch.nn.functional as F

from backprop_manual.check import verify_training
from backprop_manual.derivations import embedding
from tests.derivations.helpers import DTYPES, POINTS, assert_blamed, changed, moved, point, verify

right = embedding.backward


def wte_from(lookup):
    """dJ/dwte = the head's share (right) + lookup(head, d_tok, idx), a (wrong) way of adding the lookup's share."""

    def d_wte(g, fwd, idx, **a):
        share = g["logits"].reshape(-1, embedding.V).T @ fwd["x"].reshape(-1, embedding.C)
        return lookup(share, g["tok"], idx)

    return d_wte


def lookup_only(share, d_tok, idx):
    return torch.zeros_like(share).index_add(0, idx.reshape(-1), d_tok.reshape(-1, share.shape[1]))


def assigned(share, d_tok, idx):
    d = share.clone()
    d[idx] += d_tok  # advanced indexing: a token seen twice is added once
    return d


def d_logits(formula):
    """The right backward with dJ/dlogits = formula(p, onehot, B, T), flowing down to x, wpe, tok and wte."""

    def backward(fwd, wte, wpe, idx, targets):
        p = torch.softmax(fwd["logits"], -1)
        dl = formula(p, F.one_hot(targets, embedding.V).to(p), *targets.shape)
        d_x = dl @ wte
        share = dl.reshape(-1, embedding.V).T @ fwd["x"].reshape(-1, embedding.C)
        d_wte = share.index_add(0, idx.reshape(-1), d_x.reshape(-1, embedding.C))
        return {"logits": dl, "x": d_x, "wpe": d_x.sum(0), "tok": d_x, "wte": d_wte}

    return backward


MISTAKES = {
    "missing-1/(B·T)": (d_logits(lambda p, onehot, B, T: p - onehot), "logits", "MISMATCH"),
    "mean-over-the-batch-only": (d_logits(lambda p, onehot, B, T: (p - onehot) / B), "logits", "MISMATCH"),
    # p(1 - p) dJ/dp with dJ/dp = -onehot/(p B T): the softmax Jacobian's diagonal only
    "softmax-as-p(1-p)": (d_logits(lambda p, onehot, B, T: -(1 - p) * onehot / (B * T)), "logits", "MISMATCH"),
    "dwpe-summed-over-positions": (changed(right, wpe=lambda g, fwd, **a: g["x"].sum(1)), "wpe", "shape"),
    # wte is both the lookup table and the head: the lookup's gradient written over the head's
    "tied-wte-head-gradient-overwritten": (
        changed(right, wte=wte_from(lookup_only)),
        "wte",
        "MISMATCH",
    ),
    "dwte-lookup-assigned-not-accumulated": (changed(right, wte=wte_from(assigned)), "wte", "MISMATCH"),
}


@pytest.mark.parametrize("seed", POINTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_the_derivation_agrees_with_autograd(device, dtype, seed):
    params, inputs = point(embedding, dtype, device, seed)
    report = verify(embedding, right, params, inputs)
    report.assert_ok()
    assert [r.name for r in report.rows] == ["logits", "x", "wpe", "tok", "wte"]
    assert {(t.dtype, t.device.type) for t in report.autograd.values()} == {(dtype, device)}


def test_some_token_recurs_in_the_example():
    """The assignment mistake only shows where a token is looked up twice"""
    _, inputs = embedding.example(torch.float64, "cpu")
    assert int(torch.bincount(inputs["idx"].reshape(-1)).max()) > 1


@pytest.mark.parametrize("mistake", [pytest.param(k, id=k) for k in MISTAKES])
def test_a_planted_mistake_is_blamed_first(device, dtype, mistake):
    backward, name, status = MISTAKES[mistake]
    params, inputs = embedding.example(dtype, device)
    assert_blamed(verify(embedding, backward, params, inputs), name, status)


def test_training_follows_torch_optim_sgd(dtype):
    params, inputs = embedding.example(dtype, "cpu")
    report = verify_training(embedding.forward, right, params, inputs, lr=embedding.LR, epochs=20)
    report.assert_ok()
    assert moved(report, params) > 1e-2, "the parameters moved"


def test_training_parts_at_step_0_on_the_wrong_parameter(dtype):
    params, inputs = embedding.example(dtype, "cpu")
    wrong = MISTAKES["tied-wte-head-gradient-overwritten"][0]
    report = verify_training(embedding.forward, wrong, params, inputs, lr=embedding.LR, epochs=3)
    assert not report.ok, report.summary()
    assert (report.first.step, report.first.parameter) == (0, "wte"), report.summary()
