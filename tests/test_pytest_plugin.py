"""The installed pytest plugin (entry point pytest11, backprop_manual/pytest_plugin.py), seen from a project outside
this repo: it gives --device and --dtype, word ids, visibly skipped CUDA cases, and a usage error for an absent GPU.

Each project is a pytester temp dir with no conftest.py: whatever options it has come from the installed plugin."""

import pytest
import torch

pytest_plugins = ["pytester"]

A_DEVICE_TEST = """
def test_on(device, dtype):
    assert device in ("cpu", "cuda")
"""


@pytest.fixture
def suite(pytester):
    pytester.makepyfile(A_DEVICE_TEST)
    return pytester


@pytest.mark.heavy
def test_the_outside_project_gets_the_options_from_the_installed_plugin(suite):
    # A fresh process in the temp dir, away from this repo's sys.path: only the installed entry point can load it.
    result = suite.runpytest_subprocess("--help")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["backprop_manual:", "*--device={cpu,cuda,all}*", "*--dtype={float32,float64,all,bfloat16,float16}*"]
    )
    assert not list(suite.path.rglob("conftest.py")), "the options must not come from a conftest.py"


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


def test_ids_are_the_words_device_then_dtype_then_the_tests_own(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", [3], ids=["three-samples"])
        def test_mine(device, dtype, n):
            pass

        def test_dtype_only(dtype):
            pass
        """
    )
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines_random(  # pytest-randomly, where installed, shuffles them
        [
            "*::test_mine[[]cpu-float32-three-samples[]]",
            "*::test_mine[[]cpu-float64-three-samples[]]",
            "*::test_mine[[]cuda-float32-three-samples[]]",
            "*::test_mine[[]cuda-float64-three-samples[]]",
            "*::test_dtype_only[[]float32[]]",
            "*::test_dtype_only[[]float64[]]",
            "6 tests collected*",
        ]
    )
    result.stdout.no_fnmatch_line("*device0*")
    result.stdout.no_fnmatch_line("*dtype0*")


def test_a_project_that_parametrizes_dtype_itself_is_not_parametrized_twice(pytester):
    pytester.makepyfile(
        test_its_own_parametrization="""
        import pytest
        import torch

        @pytest.mark.parametrize("n, dtype", [(1, torch.float16)], ids=["one-half"])
        def test_marked(device, n, dtype):
            assert dtype is torch.float16

        def pytest_generate_tests(metafunc):
            if metafunc.function.__name__ == "test_by_hook":
                metafunc.parametrize("dtype", [torch.bfloat16], ids=["bf16"])

        def test_by_hook(dtype):
            assert dtype is torch.bfloat16
        """,
        test_its_own_fixture="""
        import pytest

        @pytest.fixture
        def device():
            return "cpu:0"

        def test_own_device_fixture(device, dtype):
            assert device == "cpu:0"
        """,
    )
    result = pytester.runpytest("-v")
    on_a_gpu = torch.cuda.is_available()  # test_marked[cuda-one-half] runs there, is skipped here
    result.assert_outcomes(passed=4 + on_a_gpu, skipped=1 - on_a_gpu)
    result.stdout.fnmatch_lines_random(
        [
            "*::test_marked[[]cpu-one-half[]] PASSED*",
            "*::test_marked[[]cuda-one-half[]] *",
            "*::test_by_hook[[]bf16[]] PASSED*",
            "*::test_own_device_fixture[[]float32[]] PASSED*",
            "*::test_own_device_fixture[[]float64[]] PASSED*",
        ]
    )
    result.stdout.no_fnmatch_line("*float*-one-half*")
    result.stdout.fnmatch_lines_random(  # test_own_device_fixture's device, test_by_hook's dtype
        [
            f"backprop_manual: some tests take this project's own `{name}` fixture*--{name}*"
            for name in ("device", "dtype")
        ]
    )


def a_projects_own_options(names: list[str]) -> str:
    """A conftest.py that adds --NAME for each name, with a fixture NAME that returns the option's value."""
    lines = ["import pytest", "", "def pytest_addoption(parser):"]
    lines += [f'    parser.addoption("--{name}", default="the project\'s default")' for name in names]
    for name in names:
        lines += ["", "@pytest.fixture", f"def {name}(request):", f'    return request.config.getoption("--{name}")']
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("taken", [["device"], ["dtype"], ["device", "dtype"]], ids=["device", "dtype", "both"])
def test_a_project_with_its_own_option_keeps_it_and_the_plugin_says_so(pytester, taken):
    # Entry-point plugins register before a project's conftest.py: a plugin option added in pytest_addoption made the
    # project's own parser.addoption("--device") fail with "ValueError: option dest 'device' already used".
    pytester.makeconftest(a_projects_own_options(taken))
    pytester.makepyfile(
        """
        def test_on(device, dtype):
            print("GOT", device, dtype)
        """
    )
    asked = [arg for name in taken for arg in (f"--{name}", f"{name}-of-the-project's-own")]
    result = pytester.runpytest("-s", "-v", *asked)
    free = {"device": ["cpu", "cuda"], "dtype": ["float32", "float64"]}
    cases = [1 if name in taken else len(free[name]) for name in ("device", "dtype")]
    on_a_gpu = torch.cuda.is_available()
    skipped = 0 if "device" in taken or on_a_gpu else cases[1]  # the plugin's own cuda cases, without a GPU
    result.assert_outcomes(passed=cases[0] * cases[1] - skipped, skipped=skipped)
    result.stdout.fnmatch_lines(
        [f"backprop_manual: this project has its own --{name}, so the plugin leaves --{name}*" for name in taken]
    )
    for name in taken:
        result.stdout.fnmatch_lines([f"*GOT *{name}-of-the-project's-own*"])
    for name in {"device", "dtype"} - set(taken):
        result.stdout.no_fnmatch_line(f"*has its own --{name},*")
    result.stdout.no_fnmatch_line("*already used*")


def test_an_outside_wrong_derivation_fails_with_the_verifiers_message(pytester):
    pytester.makepyfile(
        """
        import torch

        import backprop_manual
        from backprop_manual.neuron import gradients


        def wrong_delta_J_delta_z(w, x, b, y):
            g = gradients(w, x, b, y)
            return g._replace(delta_J_delta_z=2 * g.delta_J_delta_z)  # dJ/dz doubled


        def test_my_derivation(device, dtype):
            w, b = (torch.tensor(v, dtype=dtype, device=device) for v in (0.3, -0.1))
            X = torch.tensor([0.5, 1.0, 2.0], dtype=dtype, device=device)
            y = torch.tensor([0.0, 1.0, 1.0], dtype=dtype, device=device)
            backprop_manual.verify_gradients(w, b, X, y, manual=wrong_delta_J_delta_z).assert_ok()
        """
    )
    result = pytester.runpytest("--device", "cpu", "--dtype", "float64")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_my_derivation?cpu-float64?*",
            ">*verify_gradients(w, b, X, y, manual=wrong_delta_J_delta_z).assert_ok()",  # the caller's line
            "*AssertionError: delta_J_delta_z (dJ/dz) is the first intermediate to diverge*on cpu in float64*",
            "*intermediate*|diff|*rel*allowed*status",
            "*delta_J_delta_z*MISMATCH  <- first",
        ]
    )
