"""The Taylor remainder test, per parameter and intermediate: rate 2 for our gradients, rate 1 for wrong ones."""

import pytest
import torch

from backprop_manual.neuron import gradients, local_derivatives
from backprop_manual.neuron.passes import CHAIN
from backprop_manual.neuron_check.taylor import HALVINGS, convergence_rates, taylor_rates
from tests.shared import cell_data

CELL_DATA = cell_data()  # float64: the rates need J's rounding noise far below eps^2
POINTS = [
    pytest.param((2.0, -2.0), id="w2_b-2"),
    pytest.param((0.5, 1.0), id="w0.5_b1"),
    pytest.param((-3.0, 3.0), id="w-3_b3"),
]
# Measured at these points over eps = 2^-6 ... 2^-12: correct rates 1.963 to 2.016 (the eps^3 term fades as eps
# halves), wrong ones 0.969 to 1.207 in the first halving and within 0.01 of 1 by the last.
NEAR = 0.1


def rates(name, grads, point):
    w, b = (torch.tensor(p, dtype=torch.float64) for p in point)
    r = taylor_rates(name, grads, w, CELL_DATA.X, b, CELL_DATA.y, generator=torch.Generator().manual_seed(0))
    assert len(r) == HALVINGS, "one rate per halving of eps"
    return r


@pytest.mark.parametrize("name", CHAIN)
@pytest.mark.parametrize("point", POINTS)
def test_our_gradient_converges_at_rate_2(name, point):
    w, b = (torch.tensor(p, dtype=torch.float64) for p in point)
    r = rates(name, gradients(w, CELL_DATA.X, b, CELL_DATA.y), point)
    assert all(abs(k - 2) < NEAR for k in r), f"{name} at {point}: rates {[round(k, 3) for k in r]}, expected 2"


def dz_db_is_x(w, x, b, y):
    g = gradients(w, x, b, y)
    return g._replace(delta_J_delta_b=x * g.delta_J_delta_z)


WRONG = {
    "delta_J_delta_sigma": ("delta_J_delta_sigma", lambda y_hat, y: y_hat - y),  # the factor 2 dropped
    "delta_J_delta_z": ("delta_sigma_delta_z", lambda z, sigma=None: torch.sigmoid(z)),  # sigma for sigma (1 - sigma)
    "delta_J_delta_w": ("delta_z_delta_w", lambda x: torch.ones_like(x)),  # dz/dw = 1
    "delta_J_delta_b": (None, dz_db_is_x),  # dz/db = x
}


@pytest.mark.parametrize("name", CHAIN)
@pytest.mark.parametrize("point", POINTS)
def test_a_wrong_gradient_converges_at_rate_1(monkeypatch, name, point):
    attribute, wrong = WRONG[name]
    w, b = (torch.tensor(p, dtype=torch.float64) for p in point)
    if attribute:
        monkeypatch.setattr(local_derivatives, attribute, wrong)
        grads = gradients(w, CELL_DATA.X, b, CELL_DATA.y)
    else:
        grads = wrong(w, CELL_DATA.X, b, CELL_DATA.y)
    r = rates(name, grads, point)
    assert abs(r[-1] - 1) < NEAR, f"{name} at {point}: rates {[round(k, 3) for k in r]}, expected 1"


def test_rates_are_log2_of_consecutive_ratios():
    assert convergence_rates([1.0, 0.25, 0.0625, 0.03125]) == [2.0, 2.0, 1.0]


def test_the_direction_comes_from_the_seed_alone():
    """Deterministic: the same seed gives the same rates to the last bit, another seed another direction."""
    w, b = torch.tensor(0.5, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64)
    grads = gradients(w, CELL_DATA.X, b, CELL_DATA.y)

    def rates_with(seed, global_seed):
        with torch.random.fork_rng():  # the global generator must not matter, and is left as it was
            torch.manual_seed(global_seed)
            generator = torch.Generator().manual_seed(seed)
            return taylor_rates("delta_J_delta_z", grads, w, CELL_DATA.X, b, CELL_DATA.y, generator=generator)

    assert rates_with(0, global_seed=1) == rates_with(0, global_seed=2)
    assert rates_with(0, global_seed=1) != rates_with(1, global_seed=1)
