"""The suite's shared fixtures. --device and --dtype come from the package's pytest plugin
(backprop_manual/pytest_plugin.py), the shared data and starting point from tests/shared.py."""

import os

import pytest
import torch

# torch._dynamo once, here, while the suite is collected: its first import inside a test (torch.optim, the error
# model's dispatch mode) failed partway in some -n 2 workers and left torch._inductor's test_operators library
# registered twice, failing every later torch.optim and Monte Carlo draw in that worker ("Only a single
# TORCH_LIBRARY ... _inductor_test": 226 failures in one CI run, none with -p no:randomly or serially). Which test's
# context made that first import fail is not known yet (pytest's assertion rewriter executes test_operators.py).
import torch._dynamo  # noqa: F401, E402

from tests import shared


@pytest.fixture(autouse=True, scope="session")
def one_intra_op_thread():
    """One intra-op thread per test process, and, through OMP_NUM_THREADS (which torch reads), for the processes
    the tests start: the command line's subprocess runs, the notebooks' kernels, pytester's runs. The suite's tensors
    are small (at most 2048 x 256), so a second thread has little to split and, on a 2-core machine shared with other
    work or with a second xdist worker, only contends. Measured side by side on this 2-core machine while other work
    ran: tests/check/test_floor.py and test_chain.py together took 20 s and 71 s in two runs with torch's default 2
    threads, 7.6 s and 9.3 s with 1; 30 full-batch training steps of derivations/hidden.py 1.5 s against 0.04 s.
    Both are put back at the end of the session."""
    before, env_before = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"
    yield
    torch.set_num_threads(before)
    if env_before is None:
        del os.environ["OMP_NUM_THREADS"]
    else:
        os.environ["OMP_NUM_THREADS"] = env_before


def pytest_collection_modifyitems(config, items):
    """A test marked wide_dtypes(reason[, dtypes=("float16",)]) pins figures that hold in float32 and float64 only
    (the lesson's neuron, which backprop-manual runs in those alone; bit-for-bit and ULP counts), or not in the 16-bit
    dtypes it names: under `--dtype bfloat16` or `float16` each such case is a visible skip that says why, never a
    failure nor a silent pass."""
    for item in items:
        mark = item.get_closest_marker("wide_dtypes")
        if mark is None:
            continue
        if not mark.args:
            raise pytest.UsageError(f"{item.nodeid}: wide_dtypes needs its reason, wide_dtypes('why')")
        dtype = getattr(getattr(item, "callspec", None), "params", {}).get("dtype")
        names = mark.kwargs.get("dtypes", ("bfloat16", "float16"))
        if isinstance(dtype, torch.dtype) and str(dtype).removeprefix("torch.") in names:
            item.add_marker(pytest.mark.skip(reason=f"not in {dtype}: {mark.args[0]}"))
    # the heavy tests first (a stable sort: pytest-randomly's order stays among the rest), while the root conftest's
    # --maxschedchunk=1 makes pytest-xdist hand each worker one test at a time: the longest go out first, to whichever
    # worker is free, and the workers finish together (longest-first scheduling). Without it, one heavy test dealt
    # last kept one worker busy for seconds after the other had finished.
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)


@pytest.fixture(scope="session")
def cell_data():
    """The lesson's 569 samples, float64 on the CPU, loaded once per test process: read it, never change it."""
    return shared.cell_data()
