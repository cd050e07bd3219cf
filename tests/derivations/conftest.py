"""One intra-op thread for the derivation tests: their tensors are small (at most 569 x 30), so a second thread has
nothing to split and only contends. Measured on this 2-core machine while other work ran: 30 full-batch training
steps of derivations/hidden.py took 1.5 s with torch's default 2 threads, 0.04 s with 1; the whole tests/derivations
38 s against 4 s. The thread count is put back afterwards, for the rest of the suite."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="package")
def one_intra_op_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
