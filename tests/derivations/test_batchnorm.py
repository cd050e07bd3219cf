"""derivations/batchnorm.py: the backprop-ninja MLP, 26 gradients step by step, and the fused cross-entropy and
batch-norm backward beside them."""

import pytest
import torch
import torch.nn.functional as F

from backprop_manual.check import verify_chain, verify_training
from backprop_manual.derivations import batchnorm
from tests.derivations.helpers import DTYPES, POINTS, assert_blamed, changed, moved, point

right = batchnorm.backward
fused = batchnorm.backward_fused

CHAIN = [
    *["logprobs", "probs", "counts_sum_inv", "counts_sum", "counts", "norm_logits", "logit_maxes", "logits"],
    *["W2", "b2", "h", "hpreact", "bngain", "bnbias", "bnraw", "bnvar_inv", "bnvar", "bndiff2", "bndiff"],
    *["bnmeani", "hprebn", "W1", "b1", "embcat", "emb", "C"],
]


def d_hprebn_then_down(d_hprebn):
    """The fused backward with a (wrong) dJ/dhprebn = d_hprebn(fwd, grads, bngain, n), flowing on into W1, b1, the
    embedding, as it would in the code."""

    def backward(fwd, **a):
        g = fused(fwd, **a)
        d = d_hprebn(fwd, g, a["bngain"], a["Xb"].shape[0])
        return g | batchnorm.lower(d, fwd, a["C"], a["W1"], a["Xb"])

    return backward


def fused_bn(bessel=lambda n: n / (n - 1), dim=0):
    """dJ/dhprebn by the fused formula, with the Bessel factor `bessel(n)` in place of n/(n - 1), summing over `dim`."""

    def d_hprebn(fwd, g, bngain, n):
        var, mean = torch.var_mean(fwd["hprebn"], dim=0, keepdim=True, correction=1)
        inv = (var + batchnorm.EPS) ** -0.5
        raw = (fwd["hprebn"] - mean) * inv
        dh = g["hpreact"]
        return (
            bngain
            * inv
            / n
            * (n * dh - dh.sum(dim, keepdim=True) - bessel(n) * raw * (dh * raw).sum(dim, keepdim=True))
        )

    return d_hprebn


def below_bnvar(bessel):
    """The right backward down to dJ/dbnvar, then dJ/dbndiff2 = dJ/dbnvar / bessel(n) (n - 1 is right) flowing on
    through bndiff, bnmeani and hprebn into W1, b1 and the embedding, as it would in the code."""

    def backward(fwd, **a):
        g = right(fwd, **a)
        n = a["Xb"].shape[0]
        d_bndiff2 = torch.ones_like(fwd["bndiff2"]) * g["bnvar"] / bessel(n)
        d_bndiff = fwd["bnvar_inv"] * g["bnraw"] + 2 * fwd["bndiff"] * d_bndiff2
        d_bnmeani = -d_bndiff.sum(0, keepdim=True)
        d_hprebn = d_bndiff + d_bnmeani / n
        below = batchnorm.lower(d_hprebn, fwd, a["C"], a["W1"], a["Xb"])
        return g | {"bndiff2": d_bndiff2, "bndiff": d_bndiff, "bnmeani": d_bnmeani} | below

    return backward


def d_C_assigned(g, fwd, C, Xb, **a):
    """dJ/dC[Xb] = dJ/demb: an assignment, so a row of C looked up twice keeps only one of its gradients"""
    d = torch.zeros_like(C)
    d[Xb] = g["emb"]
    return d


STEP_BY_STEP = {
    # the variance's 1/(n-1) differentiated as 1/n: every gradient below bnvar off by (n-1)/n, 3 %
    "bessel-n/(n-1)-dropped": (below_bnvar(lambda n: n), "bndiff2"),
    # the issue's own: a [64] where the forward's broadcast [1, 64] belongs
    "keepdim-forgotten-dbnvar_inv": (
        changed(right, bnvar_inv=lambda g, fwd, **a: (fwd["bndiff"] * g["bnraw"]).sum(0)),
        "bnvar_inv",
        "shape",
    ),
    # counts feeds probs and counts_sum: the second use's gradient written over the first instead of added
    "counts-gradient-overwritten": (
        changed(right, counts=lambda g, fwd, **a: fwd["counts_sum_inv"] * g["probs"]),
        "counts",
    ),
    "mean-gradient-summed-over-features": (
        changed(right, bnmeani=lambda g, fwd, **a: -g["bndiff"].sum(1, keepdim=True)),
        "bnmeani",
        "shape",
    ),
    "dC-assigned-not-accumulated": (changed(right, C=d_C_assigned), "C"),
    "tanh'-as-1-h": (changed(right, hpreact=lambda g, fwd, **a: (1 - fwd["h"]) * g["h"]), "hpreact"),
    "missing-1/n-dlogprobs": (changed(right, logprobs=lambda g, fwd, Xb, **a: g["logprobs"] * Xb.shape[0]), "logprobs"),
    "bnvar-power-rule-as-x^-1/2": (
        changed(right, bnvar=lambda g, fwd, **a: -0.5 * (fwd["bnvar"] + batchnorm.EPS) ** -0.5 * g["bnvar_inv"]),
        "bnvar",
    ),
}
FUSED = {
    "fused-bn-bessel-dropped": (d_hprebn_then_down(fused_bn(bessel=lambda n: 1)), "hprebn"),
    "fused-ce-missing-1/n": (
        changed(fused, logits=lambda g, fwd, Xb, **a: g["logits"] * Xb.shape[0]),
        "logits",
    ),
    "fused-ce-onehot-forgotten": (
        changed(fused, logits=lambda g, fwd, Xb, **a: torch.softmax(fwd["logits"], 1) / Xb.shape[0]),
        "logits",
    ),
    "fused-bn-sum-over-features": (
        d_hprebn_then_down(fused_bn(dim=1)),
        "hprebn",
    ),
}


def test_below_bnvar_with_bessel_is_the_right_backward():
    """The helper that plants the Bessel mistake is itself right when given n - 1"""
    params, inputs = batchnorm.example(torch.float64, "cpu")
    verify_chain(batchnorm.forward, below_bnvar(lambda n: n - 1), params, inputs).assert_ok()


@pytest.mark.parametrize("seed", POINTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_the_step_by_step_derivation_agrees_with_autograd(device, dtype, seed):
    params, inputs = point(batchnorm, dtype, device, seed)
    report = verify_chain(batchnorm.forward, right, params, inputs)
    report.assert_ok()
    assert [r.name for r in report.rows] == CHAIN, "the exercise's 26 gradients, in the order backprop reaches them"
    assert {(t.dtype, t.device.type) for t in report.autograd.values()} == {(dtype, device)}


@pytest.mark.parametrize("seed", POINTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_the_fused_derivation_agrees_with_autograd(device, dtype, seed):
    params, inputs = point(batchnorm, dtype, device, seed)
    report = verify_chain(batchnorm.forward_fused, fused, params, inputs)
    report.assert_ok()
    assert [r.name for r in report.rows] == [n for n in CHAIN if n in report.autograd]
    assert len(report.rows) == 13


def test_both_forwards_give_the_same_J(dtype):
    params, inputs = batchnorm.example(dtype, "cpu")
    J = batchnorm.forward(**params, **inputs)["loss"]
    torch.testing.assert_close(J, batchnorm.forward_fused(**params, **inputs)["loss"])
    # at initialisation the 27 classes are near-uniform: J is near log 27, the exercise's sanity check
    assert abs(float(J) - torch.log(torch.tensor(27.0)).item()) < 0.5, float(J)


def _expect(entry):
    return entry if len(entry) == 3 else (*entry, "MISMATCH")


@pytest.mark.parametrize("mistake", [pytest.param(k, id=k) for k in STEP_BY_STEP])
def test_a_planted_mistake_in_the_step_by_step_backward_is_blamed_first(device, dtype, mistake):
    backward, name, status = _expect(STEP_BY_STEP[mistake])
    params, inputs = batchnorm.example(dtype, device)
    assert_blamed(verify_chain(batchnorm.forward, backward, params, inputs), name, status)


@pytest.mark.parametrize("mistake", [pytest.param(k, id=k) for k in FUSED])
def test_a_planted_mistake_in_the_fused_backward_is_blamed_first(device, dtype, mistake):
    backward, name, status = _expect(FUSED[mistake])
    params, inputs = batchnorm.example(dtype, device)
    assert_blamed(verify_chain(batchnorm.forward_fused, backward, params, inputs), name, status)


def test_dC_needs_accumulation_here():
    """The dC mistake is only a mistake where a row is looked up twice: the example's batch does that."""
    _, inputs = batchnorm.example(torch.float64, "cpu")
    assert int(torch.bincount(inputs["Xb"].reshape(-1)).max()) > 1


@pytest.mark.parametrize("form", ["step-by-step", "fused"])
def test_training_follows_torch_optim_sgd(dtype, form):
    params, inputs = batchnorm.example(dtype, "cpu")
    forward, backward = (batchnorm.forward, right) if form == "step-by-step" else (batchnorm.forward_fused, fused)
    report = verify_training(forward, backward, params, inputs, lr=batchnorm.LR, epochs=20)
    report.assert_ok()
    assert moved(report, params) > 1e-2, "the parameters moved"


def test_training_parts_at_step_0_on_the_wrong_parameter(dtype):
    params, inputs = batchnorm.example(dtype, "cpu")
    wrong = FUSED["fused-bn-sum-over-features"][0]
    report = verify_training(batchnorm.forward_fused, wrong, params, inputs, lr=batchnorm.LR, epochs=3)
    assert not report.ok, report.summary()
    # the first parameter in chain order that parts (W1: right after hprebn, where the mistake is), not dict order
    assert (report.first.step, report.first.parameter) == (0, "W1"), report.summary()


def test_the_fused_cross_entropy_is_F_cross_entropy_backward(dtype):
    """(softmax - onehot)/n, the fused dJ/dlogits, is what F.cross_entropy's own backward gives."""
    params, inputs = batchnorm.example(dtype, "cpu")
    logits = batchnorm.forward_fused(**params, **inputs)["logits"].detach().requires_grad_(True)
    (auto,) = torch.autograd.grad(F.cross_entropy(logits, inputs["Yb"]), logits)
    fwd = batchnorm.forward_fused(**params, **inputs)
    torch.testing.assert_close(fused({k: v.detach() for k, v in fwd.items()}, **params, **inputs)["logits"], auto)
