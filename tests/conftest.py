"""The suite's shared fixtures. --device and --dtype come from the package's pytest plugin
(backprop_manual/pytest_plugin.py), the shared data and starting point from tests/shared.py."""

import pytest
import torch

from tests import shared


@pytest.fixture(autouse=True, scope="session")
def one_intra_op_thread():
    """One intra-op thread per test process. The suite's tensors are small (at most 2048 x 256), so a second thread
    has little to split and, on a 2-core machine shared with other work or with a second xdist worker, only
    contends. Measured side by side here while other work ran: tests/check/test_floor.py and test_chain.py took
    70 s and 20 s with torch's default 2 threads, 9 s and 8 s with 1; 30 full-batch training steps of
    derivations/hidden.py 1.5 s against 0.04 s. The thread count is put back at the end of the session."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def cell_data():
    """The lesson's 569 samples, float64 on the CPU, loaded once per test process: read it, never change it."""
    return shared.cell_data()
