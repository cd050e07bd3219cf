"""Every sample, dtype, device and parameter point: each hand-derived intermediate against autograd, in chain order."""

import pytest
import torch

from backprop_manual.data import load_cell_data
from backprop_manual.verify import verify_gradients

CELL_DATA = load_cell_data()  # float64 on the CPU; each case moves its sample to its device and dtype
POINTS = [pytest.param((2.0, -2.0), id="w2_b-2")]  # the lesson's starting point
_rng = torch.Generator().manual_seed(20261128)
POINTS += [  # seeded random points, rounded so that the id says exactly where
    pytest.param((w, b), id=f"w{w:g}_b{b:g}")
    for w, b in (torch.rand((3, 2), generator=_rng, dtype=torch.float64) * 8 - 4).round(decimals=2).tolist()
]


@pytest.mark.parametrize("sample", range(len(CELL_DATA.ids)), ids=lambda i: f"sample{CELL_DATA.ids[i]}")
@pytest.mark.parametrize("point", POINTS)
def test_every_intermediate_matches_autograd(device, dtype, point, sample):
    w, b = (torch.tensor(p, dtype=dtype, device=device) for p in point)
    x, y = (t[sample : sample + 1].to(device=device, dtype=dtype) for t in (CELL_DATA.X, CELL_DATA.y))
    v = verify_gradients(w, b, x, y, ids=[CELL_DATA.ids[sample]])
    v.assert_ok()
    ran_on = {(t.device.type, t.dtype) for t in (*v.manual, *v.autograd)}
    assert ran_on == {(device, dtype)}, f"the case says {device}/{dtype} but its gradients were on {ran_on}"
