"""--device cuda on a machine without CUDA is a usage error; without --device, CUDA cases show as skipped."""

from pathlib import Path

import pytest
import torch

pytest_plugins = ["pytester"]

ROOT_CONFTEST = (Path(__file__).parents[1] / "conftest.py").read_text()
A_DEVICE_TEST = """
def test_on(device, dtype):
    assert device in ("cpu", "cuda")
"""


@pytest.fixture
def suite(pytester):
    pytester.makeconftest(ROOT_CONFTEST)
    pytester.makepyfile(A_DEVICE_TEST)
    return pytester


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the GPU branch is tested below")
@pytest.mark.parametrize("asked", ["cuda", "all"])
def test_asking_for_an_absent_gpu_is_a_usage_error(suite, asked):
    result = suite.runpytest("--device", asked)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--device {asked} was asked for, but CUDA is not available*"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: nothing is skipped")
def test_cuda_cases_are_collected_and_skipped_with_the_reason(suite):
    result = suite.runpytest("-rs", "-v")
    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.fnmatch_lines(["*test_on?cuda-float32? SKIPPED*", "*CUDA is not available*pytest --device cuda*"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: run `pytest --device cuda` on a GPU machine")
def test_cuda_cases_run_when_asked_for_on_a_gpu(suite):
    suite.runpytest("--device", "cuda").assert_outcomes(passed=2)


def test_device_and_dtype_select_cases(suite):
    result = suite.runpytest("--device", "cpu", "--dtype", "float64", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_on?cpu-float64? PASSED*"])
