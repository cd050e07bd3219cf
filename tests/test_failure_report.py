"""A wrong derivation must fail, and the failure must name the first wrong intermediate in chain order."""

import pytest
import torch

from backprop_manual import load_cell_data, local_derivatives
from backprop_manual.verify import verify_gradients

CELL_DATA = load_cell_data()


def verify_first_samples(dtype=torch.float64, n=5):
    w, b = torch.tensor(2.0, dtype=dtype), torch.tensor(-2.0, dtype=dtype)
    X, y = CELL_DATA.X[:n].to(dtype), CELL_DATA.y[:n].to(dtype)
    return verify_gradients(w, b, X, y, ids=CELL_DATA.ids[:n])


def test_sigma_in_place_of_its_derivative_is_blamed_on_dJ_dz(monkeypatch, dtype):
    monkeypatch.setattr(local_derivatives, "delta_sigma_delta_z", lambda z, sigma=None: torch.sigmoid(z))
    v = verify_first_samples(dtype)
    assert not v.ok
    assert [r.ok for r in v.report.rows] == [True, False, False, False]
    message = v.message()
    first_line = message.splitlines()[0]
    assert first_line.startswith("delta_J_delta_z (dJ/dz) is the first intermediate to diverge, at sample 0")
    assert f"in {str(dtype).removeprefix('torch.')}" in first_line and "on cpu" in first_line
    assert "x = mean_area = 1.001, y = is_cancerous = 1" in first_line
    # the whole table follows: the echoes in dJ/dw and dJ/db are listed, not hidden
    assert message.count("MISMATCH") == 3 and "MISMATCH  <- first" in message
    assert "delta_J_delta_sigma  dJ/dσ" in message


def test_a_wrong_sign_in_dJ_dsigma_is_blamed_on_the_top_of_the_chain(monkeypatch):
    monkeypatch.setattr(local_derivatives, "delta_J_delta_sigma", lambda y_hat, y: 2 * (y - y_hat))
    v = verify_first_samples()
    assert v.report.first_divergence.label == "delta_J_delta_sigma"
    assert [r.ok for r in v.report.rows] == [False, False, False, False]


def test_a_wrong_dz_dw_leaves_dJ_db_agreeing(monkeypatch):
    monkeypatch.setattr(local_derivatives, "delta_z_delta_w", lambda x: torch.ones_like(x))
    v = verify_first_samples()
    assert [r.ok for r in v.report.rows] == [True, True, False, True]
    assert v.report.first_divergence.label == "delta_J_delta_w"


def test_the_lessons_summing_dJ_dsigma_is_caught_on_a_batch(monkeypatch):
    from backprop_manual.lesson import lesson_delta_J_delta_sigma

    monkeypatch.setattr(local_derivatives, "delta_J_delta_sigma", lesson_delta_J_delta_sigma)
    v = verify_first_samples(n=5)
    assert v.report.first_divergence.label == "delta_J_delta_sigma"
    assert "shape" in v.report.first_divergence.problem.lower()


def test_first_divergent_sample_is_the_first_out_of_tolerance():
    w, b = torch.tensor(2.0, dtype=torch.float64), torch.tensor(-2.0, dtype=torch.float64)

    def manual(w, x, b, y):  # correct except from sample position 3 on
        from backprop_manual.passes import gradients

        g = gradients(w, x, b, y)
        return g._replace(delta_J_delta_b=g.delta_J_delta_b + (torch.arange(x.numel()) >= 3) * 1e-3)

    v = verify_gradients(w, b, CELL_DATA.X[:6], CELL_DATA.y[:6], ids=CELL_DATA.ids[:6], manual=manual)
    row = v.report.first_divergence
    assert (row.label, row.at) == ("delta_J_delta_b", 3)
    assert "at sample 3 " in v.message()
    assert row.abs_diff == pytest.approx(1e-3) and row.allowance < 1e-6


def test_the_lessons_dtype_mix_says_what_torch_did_and_never_blames_autograd():
    """The lesson's w = torch.tensor(2.) is a 0-d float32; with a float64 sample torch computes z in float64 [1]."""
    v = verify_gradients(torch.tensor(2.0), torch.tensor(-2.0), CELL_DATA.X[:1], CELL_DATA.y[:1], ids=CELL_DATA.ids[:1])
    message = v.message()
    assert not v.ok
    assert v.report.first_divergence.status == "dtype"
    assert "torch promoted w (float32 of shape []) to float64 of shape [1] in z" in message
    assert "autograd side is wrong" not in message
