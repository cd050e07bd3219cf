"""verify_chain on a two-layer network derived by hand: it passes in both dtypes, and each planted mistake fails
with the right gradient named first.

check/oracle.py (autograd, batch and per sample), graph.py (chain order, usage errors), compare.py (one row) and
witness.py (finite differences) have no test file of their own: they are tested here, through verify_chain, and
compare.py also through compare_intermediate in tests/neuron_check/test_verify.py. verify_training: test_training.py."""

import inspect

import pytest
import torch

from backprop_manual.check import ChainUsageError, verify_chain, verify_training
from backprop_manual.check.compare import symbol
from backprop_manual.check.model import MULTIPLIER
from tests.check import two_layer as tl
from tests.check.mistakes import MISTAKES

SIZES = [
    pytest.param((64, 5, 16), id="N64_d5_H16"),
    pytest.param((569, 30, 64), id="N569_d30_H64"),
    pytest.param((1, 3, 4), id="N1_d3_H4"),
]


@pytest.mark.parametrize("seed", [0, 1], ids=lambda s: f"seed{s}")
@pytest.mark.parametrize("size", SIZES)
def test_the_right_derivation_agrees(device, dtype, size, seed):
    N, d, H = size
    params, inputs = tl.example(dtype, device, N=N, d=d, H=H, seed=seed)
    report = verify_chain(tl.forward, tl.backward, params, inputs)
    report.assert_ok()
    assert {t.device.type for t in report.autograd.values()} == {device}
    assert {t.dtype for t in report.autograd.values()} == {dtype}


def test_chain_order_is_the_order_backprop_reaches_the_names():
    params, inputs = tl.example(torch.float64, "cpu")
    report = verify_chain(tl.forward, tl.backward, params, inputs)
    # the penalty and sigma both feed the loss; h only once both of its consumers (z2, penalty) are done;
    # each parameter right after the output of the operation that uses it
    assert [r.name for r in report.rows] == ["penalty", "sigma", "z2", "W2", "b2", "h", "zc", "z1", "W1", "b1"]


def test_the_gradient_that_is_zero_in_exact_arithmetic_is_rounding_noise_and_passes(dtype):
    params, inputs = tl.example(dtype, "cpu", N=569, d=30, H=64)
    report = verify_chain(tl.forward, tl.backward, params, inputs)
    b1 = report.row("b1")
    assert b1.ok, report.message()
    scale = report.autograd["z1"].abs().max()
    assert 0 < report.autograd["b1"].abs().max() < 1e3 * torch.finfo(dtype).eps * scale, "the autograd side is noise"
    eps = torch.finfo(dtype).eps
    alone = MULTIPLIER * 0.5 * eps * report.autograd["b1"].abs().to(torch.float64)
    assert bool(((report.manual["b1"] - report.autograd["b1"]).abs() > alone).any()), (
        "the rounding bound alone would cry wolf here: the measured rounding is what lets it pass"
    )
    assert b1.rule in ("propagated", "measured"), "a model of autograd's rounding decided, not the bound alone"


@pytest.mark.parametrize("mistake", [pytest.param(k, id=k) for k in MISTAKES])
def test_a_planted_mistake_fails_and_blames_its_gradient_first(dtype, mistake):
    backward, blamed, status, only = MISTAKES[mistake]
    if only is not None and dtype != only:
        pytest.skip(f"{mistake} is a mistake in {only} only")
    params, inputs = tl.example(dtype, "cpu")
    report = verify_chain(tl.forward, backward, params, inputs)
    assert not report.ok
    first = report.first_divergence
    assert (first.name, first.status) == (blamed, status), report.message()
    assert all(r.ok for r in report.rows[: report.rows.index(first)]), "every row before the first is ok"
    with pytest.raises(AssertionError) as failure:
        report.assert_ok()
    text = str(failure.value)
    assert text.startswith(f"{blamed} ({symbol(blamed)}) "), "a user's chain is named as its author wrote it"
    assert "is the first gradient in chain order to diverge" in text.splitlines()[0]
    assert sum(line.endswith("<- first") for line in text.splitlines()) == 1
    table = [line.split()[0] for line in text.splitlines() if line.startswith("  ") and not line.startswith("   ")]
    assert table[-len(report.rows) :] == [r.name for r in report.rows], "every row in the table, by its own name"


def test_the_manual_side_is_blamed_by_the_witness():
    params, inputs = tl.example(torch.float64, "cpu")
    backward = MISTAKES["missing-+=-at-the-fan-out"][0]
    report = verify_chain(tl.forward, backward, params, inputs)
    witness = report.witness()
    assert (witness.parameter, witness.wrong) == ("W1", "manual")
    assert "the manual side is wrong" in report.message().splitlines()[1]


class WrongSigmoid(torch.autograd.Function):
    """sigmoid, whose backward forgets the (1 - sigma) factor"""

    @staticmethod
    def forward(ctx, z):
        s = torch.sigmoid(z)
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved_tensors
        return grad * s


def neuron_forward(w, b, x, y, sigmoid=torch.sigmoid):
    z = w * x + b
    sigma = sigmoid(z)
    return {"z": z, "sigma": sigma, "loss": ((sigma - y) ** 2).sum()}


def neuron_backward(fwd, w, b, x, y):
    d_sigma = 2 * (fwd["sigma"] - y)
    d_z = fwd["sigma"] * (1 - fwd["sigma"]) * d_sigma
    return {"sigma": d_sigma, "z": d_z, "w": (x * d_z).sum(), "b": d_z.sum()}


def neuron(dtype, n=7):
    x = torch.linspace(-2, 2, n, dtype=dtype)
    return {"w": torch.tensor(2.0, dtype=dtype), "b": torch.tensor(-1.0, dtype=dtype)}, {"x": x, "y": (x > 0).to(dtype)}


def test_a_custom_autograd_function_with_a_wrong_backward_is_blamed_on_the_autograd_side(dtype):
    params, inputs = neuron(dtype)
    report = verify_chain(lambda **a: neuron_forward(**a, sigmoid=WrongSigmoid.apply), neuron_backward, params, inputs)
    assert report.first_divergence.name == "z", report.message()
    assert report.witness().wrong == "autograd"
    line = report.message().splitlines()[1]
    assert "the autograd side is wrong" in line and "custom torch.autograd.Function" in line


def test_the_issue_example_verbatim(dtype):
    params, inputs = neuron(dtype)
    report = verify_chain(neuron_forward, neuron_backward, params=params, inputs=inputs)
    assert report.ok and report.first_divergence is None
    assert [r.name for r in report.rows] == ["sigma", "z", "w", "b"]


def test_per_sample_mode_gives_each_samples_own_parameter_gradient(dtype):
    params, inputs = neuron(dtype)

    def forward(w, b, x, y):
        z = w * x + b
        sigma = torch.sigmoid(z)
        return {"z": z, "sigma": sigma, "loss": (sigma - y) ** 2}

    def backward(fwd, w, b, x, y):
        d_z = fwd["sigma"] * (1 - fwd["sigma"]) * 2 * (fwd["sigma"] - y)
        return {"sigma": 2 * (fwd["sigma"] - y), "z": d_z, "w": x * d_z, "b": d_z}

    report = verify_chain(forward, backward, params, inputs, per_sample=True)
    report.assert_ok()
    assert report.autograd["w"].shape == (7,), "one dJ_i/dw per sample, as the lesson's loop uses it"
    summed = verify_chain(neuron_forward, neuron_backward, params, inputs)
    torch.testing.assert_close(report.autograd["w"].sum(), summed.autograd["w"])
    wrong = verify_chain(
        forward,
        lambda fwd, **a: {**backward(fwd, **a), "w": a["x"].mean() * backward(fwd, **a)["z"]},
        params,
        inputs,
        per_sample=True,
    )
    assert (wrong.first_divergence.name, wrong.first_divergence.index) == ("w", [0])


def test_the_lessons_dtype_mix_says_torch_promoted_w_and_never_blames_autograd():
    x = torch.tensor([1.001], dtype=torch.float64)
    params, inputs = (
        {"w": torch.tensor(2.0), "b": torch.tensor(-2.0)},
        {"x": x, "y": torch.ones(1, dtype=torch.float64)},
    )
    report = verify_chain(neuron_forward, neuron_backward, params, inputs)
    message = report.message()
    assert not report.ok
    assert report.first_divergence.status == "dtype"
    assert "torch promoted w (float32 of shape []) to float64 of shape [1] in z" in message
    assert "autograd side is wrong" not in message


def test_a_missing_name_is_a_row_and_an_unknown_name_is_a_usage_error():
    params, inputs = neuron(torch.float64)
    report = verify_chain(
        neuron_forward,
        lambda fwd, **a: {k: v for k, v in neuron_backward(fwd, **a).items() if k != "z"},
        params,
        inputs,
    )
    assert [(r.name, r.status) for r in report.rows if not r.ok][0] == ("z", "missing")
    with pytest.raises(ChainUsageError, match="'sigm', which is neither an intermediate of the forward"):
        verify_chain(
            neuron_forward, lambda fwd, **a: {**neuron_backward(fwd, **a), "sigm": fwd["sigma"]}, params, inputs
        )


@pytest.mark.parametrize(
    "forward, message",
    [
        pytest.param(lambda w, b, x, y: (w * x + b).sum(), "must return a dict", id="not-a-dict"),
        pytest.param(lambda w, b, x, y: {"z": w * x + b}, "has no 'loss'", id="no-loss"),
        pytest.param(lambda w, b, x, y: {"loss": (w * x + b)}, "must be a scalar", id="loss-not-reduced"),
        pytest.param(
            lambda w, b, x, y: {"x2": x * 2, "loss": (w * x + b).sum()},
            "'x2' does not depend",
            id="constant-intermediate",
        ),
    ],
)
def test_a_forward_that_cannot_be_verified_is_a_usage_error_naming_why(forward, message):
    params, inputs = neuron(torch.float64)
    with pytest.raises(ChainUsageError, match=message):
        verify_chain(forward, neuron_backward, params, inputs)


def test_nan_on_both_sides_is_never_agreement():
    params, inputs = neuron(torch.float64)
    params["w"] = torch.tensor(torch.nan, dtype=torch.float64)
    report = verify_chain(neuron_forward, neuron_backward, params, inputs)
    assert not report.ok
    assert report.first_divergence.status == "not finite"
    assert "manual and autograd are not finite" in report.first_divergence.problem


def test_params_passed_as_inputs_get_a_hint():
    params, inputs = neuron(torch.float64)
    with pytest.raises(ChainUsageError, match="did you pass them as inputs"):
        verify_chain(neuron_forward, neuron_backward, {"x": inputs["x"]}, {**params, "y": inputs["y"]})


def test_a_point_where_j_itself_is_not_finite_is_not_verified_and_never_ok():
    params, inputs = neuron(torch.float64)
    report = verify_chain(
        lambda **a: {**neuron_forward(**a), "loss": neuron_forward(**a)["loss"] / 0.0}, neuron_backward, params, inputs
    )
    assert not report.ok and not report.loss_finite
    assert "J is not finite at this point" in report.message()


@pytest.mark.parametrize(
    "change, what",
    [
        pytest.param(lambda g: g.numpy(), "a numpy.ndarray", id="numpy-array"),
        pytest.param(lambda g: g.numpy().sum(), "a numpy.float64", id="numpy-scalar"),
        pytest.param(lambda g: float(g.sum()), "a float", id="python-float"),
        pytest.param(lambda g: int(g.sum()), "an int", id="python-int"),
        pytest.param(lambda g: g.tolist(), "a list", id="list"),
    ],
)
def test_a_gradient_that_is_not_a_tensor_is_a_usage_error_naming_it_and_the_fix(change, what):
    params, inputs = neuron(torch.float64)
    with pytest.raises(ChainUsageError) as error:
        verify_chain(
            neuron_forward, lambda fwd, **a: {**neuron_backward(fwd, **a), "z": change(fwd["z"])}, params, inputs
        )
    assert str(error.value) == (
        f"the backward's gradient 'z' (dJ/dz) is {what}, not a torch.Tensor: return a tensor, e.g. "
        "torch.as_tensor(value, dtype=torch.float64, device='cpu')"
    )


def test_a_users_chain_is_labelled_by_its_own_names_and_the_lessons_neuron_by_the_lessons():
    params, inputs = tl.example(torch.float64, "cpu")
    mine = verify_chain(tl.forward, tl.backward, params, inputs)
    assert [r.label for r in mine.rows] == [r.name for r in mine.rows], "sigma too: the chain is not the neuron"
    assert [r.symbol for r in mine.rows][:2] == ["dJ/dpenalty", "dJ/dσ"], "the symbol column stays"
    lesson = verify_chain(neuron_forward, neuron_backward, *neuron(torch.float64))
    assert [r.label for r in lesson.rows] == [
        "delta_J_delta_sigma",
        "delta_J_delta_z",
        "delta_J_delta_w",
        "delta_J_delta_b",
    ]
    wrong = verify_chain(
        neuron_forward, lambda f, **a: {**neuron_backward(f, **a), "z": 2 * f["z"]}, *neuron(torch.float64)
    )
    assert wrong.message().startswith("z (delta_J_delta_z, dJ/dz) is the first gradient in chain order to diverge")


def test_the_tables_columns_stay_aligned_with_long_names_shapes_and_counts():
    def forward(weight_of_the_first_layer, x):
        the_pre_activation_of_the_first_layer = x * weight_of_the_first_layer
        return {
            "the_pre_activation_of_the_first_layer": the_pre_activation_of_the_first_layer,
            "loss": (the_pre_activation_of_the_first_layer**2).sum(),
        }

    def backward(fwd, weight_of_the_first_layer, x):
        d = 2 * fwd["the_pre_activation_of_the_first_layer"]
        return {"the_pre_activation_of_the_first_layer": d, "weight_of_the_first_layer": 3 * (x * d).sum(0)}

    x = torch.randn(2, 3, 4, 5, 6, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    report = verify_chain(
        forward, backward, {"weight_of_the_first_layer": torch.ones(3, 4, 5, 6, 7, dtype=torch.float64)}, {"x": x}
    )
    assert not report.ok
    header, *rows = report.table().splitlines()
    assert len(rows) == 2 and "[2, 3, 4, 5, 6, 7]" in rows[0] and "2520/2520" in rows[1], rows
    for column in ("shape", "|diff|", "allowed", "u", "ratio", "rule", "mismatched", "at", "status"):
        start = header.index(f" {column}") + 1  # the header's own columns: left-aligned start where they start,
        end = start + len(column)  # right-aligned end where they end
        left = column in ("shape", "rule", "at", "status")
        for row in rows:
            edge = row[start - 1 : start + 1] if left else row[end - 1 : end + 1]
            assert (edge[0] == " ") if left else (edge[1] == " "), f"{column!r} out of line:\n{header}\n{row}"
            assert edge[1 if left else 0] != " ", f"{column!r} out of line:\n{header}\n{row}"


def test_one_gradient_agrees_and_a_non_value_divergence_says_why_no_witness_in_plain_words():
    def forward(w, x):
        return {"loss": (w * x).sum()}

    report = verify_chain(
        forward,
        lambda fwd, w, x: {"w": x.sum()},
        {"w": torch.tensor(2.0, dtype=torch.float64)},
        {"x": torch.ones(3, dtype=torch.float64)},
    )
    assert report.message().startswith("1 gradient agrees, on cpu in float64"), report.message()
    params, inputs = neuron(torch.float64)
    missing = verify_chain(
        neuron_forward,
        lambda fwd, **a: {k: v for k, v in neuron_backward(fwd, **a).items() if k != "z"},
        params,
        inputs,
    )
    assert "  witness: not consulted: the first divergence (missing) is not a question of values\n" in missing.message()


@pytest.mark.parametrize("fn", [verify_chain, verify_training], ids=["verify_chain", "verify_training"])
def test_help_documents_every_argument(fn):
    """Each argument opens a line of the docstring, `name:` or `name(...)`."""
    lines = [line.strip() for line in (fn.__doc__ or "").splitlines()]
    undocumented = [
        name
        for name in inspect.signature(fn).parameters
        if not any(line.startswith((f"{name}:", f"{name}(")) for line in lines)
    ]
    assert not undocumented, f"help({fn.__name__}) does not document {', '.join(undocumented)}"


def test_an_empty_parameter_is_a_row_of_no_elements_not_a_crash():
    """A parameter with no elements (a bias of width 0) has nothing to compare: ok, 0 / 0, beside the other rows."""

    def forward(w, e, x):
        z = x * w + e.sum()
        return {"z": z, "loss": (z * z).sum()}

    def backward(fwd, w, e, x):
        return {"z": 2 * fwd["z"], "w": (2 * fwd["z"] * x).sum(), "e": torch.zeros(0)}

    x = torch.linspace(-1, 1, 4)
    report = verify_chain(forward, backward, {"w": torch.tensor(0.5), "e": torch.zeros(0)}, {"x": x})
    report.assert_ok()
    e = report.row("e")
    assert (e.status, e.numel, e.mismatched, e.index) == ("ok", 0, 0, [])
    assert "0/0" in report.table()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_every_number_of_a_row_is_one_elements_and_they_agree_with_its_status(dtype):
    """|diff|, allowed, u and ratio are read at one element, `at`: an agreeing row shows its largest |diff| / allowed
    there (never a |diff| from elsewhere beside an allowance that it exceeds, with "ok"), a failing row its first
    element past the allowance."""
    from backprop_manual.derivations import attention

    params, inputs = attention.example(dtype, "cpu")
    checked = getattr(attention, "CHECK_INPUTS", ())

    def wrong(fwd, **a):  # dJ/dv off by one everywhere: a failing row, its first element past the allowance
        return {**attention.backward(fwd, **a), "v": attention.backward(fwd, **a)["v"] + 1}

    for backward, ok in ((attention.backward, True), (wrong, False)):
        report = verify_chain(attention.forward, backward, params, inputs, check_inputs=checked)
        assert report.ok is ok
        measured = [r for r in report.rows if r.diff > 0]
        assert measured, "the case must have rows that differ, else it proves nothing"
        for r in report.rows:
            assert r.diff == pytest.approx(abs(r.manual - r.autograd)) and r.allowance == MULTIPLIER * r.uncertainty
            if r.status == "ok":
                assert r.ratio_at == pytest.approx(r.ratio, rel=1e-12) and r.diff <= r.allowance, r
            else:
                assert r.ratio_at > 1, r
        for line, r in zip(report.table().splitlines()[1:], report.rows, strict=True):
            assert f"{r.diff:.3e}" in line and f"{r.allowance:.3e}" in line and f"{r.ratio_at:.3g}" in line, line


def test_a_slip_seen_only_in_float64_is_witnessed_in_float64():
    """A bfloat16 backward off by a relative 3e-4 (under half an ULP of bfloat16, 2e-3: mostly rounded away): wrong as
    mathematics, and the witness, taken on the float64 values where the slip was seen, blames the manual side (on the
    run's own bfloat16 values it could not tell the sides apart)."""

    def forward(w, x):
        z = x @ w
        return {"z": z, "loss": (torch.tanh(z) ** 2).sum()}

    def backward(fwd, w, x, slip=3e-4):
        d_z = 2 * torch.tanh(fwd["z"]) * (1 - torch.tanh(fwd["z"]) ** 2) * (1 + slip)
        return {"z": d_z, "w": x.T @ d_z}

    g = torch.Generator().manual_seed(0)
    w, x = torch.randn(4, 3, generator=g), torch.randn(16, 4, generator=g)
    report = verify_chain(forward, backward, {"w": w.bfloat16()}, {"x": x.bfloat16()})
    first = report.first_divergence
    assert first is not None and first.name == "z" and first.problem.startswith("wrong as mathematics"), (
        report.message()
    )
    assert report.row("w").problem.startswith("wrong as mathematics"), report.message()
    witness = report.witness()
    assert not isinstance(witness, str) and witness.wrong == "manual", report.message()
    # float64 autograd against the float64 differences: 1e-10 apart here; bfloat16's values are ~1e-3 off them
    assert witness.off_autograd < 1e-8 * abs(witness.finite_difference), report.message()
    right = verify_chain(
        forward, lambda fwd, w, x: backward(fwd, w, x, slip=0.0), {"w": w.bfloat16()}, {"x": x.bfloat16()}
    )
    assert right.ok, right.message()
    # mathematics=False: the rows judged in bfloat16 only (for a caller that checks the mathematics itself)
    alone = verify_chain(forward, backward, {"w": w.bfloat16()}, {"x": x.bfloat16()}, mathematics=False)
    assert alone.ok and not any("float64" in n for n in alone.notes), alone.message()


def test_a_row_that_float64_calls_as_accurate_shows_numbers_that_agree_with_ok():
    """float16's autograd flushes S1·S2 = 1e-8 to 0 on its way to dJ/dw, 0 where the truth is 1e-4; a hand backward
    that multiplies in float32 gets 1e-4: past float16's allowance (of autograd's 0), yet nearer float64's autograd.
    The row is ok by float64's account, and every number it shows is float64's, where that was decided: a table row
    of ratio 210 beside "ok" contradicted itself. What float16 saw is in its problem and in the message."""
    big, s1, s2 = 1e4, 1e-4, 1e-4

    def forward(w, x):
        a = w * x * big
        b = a * s1
        return {"a": a, "b": b, "loss": (b * s2).sum()}

    def backward(fwd, w, x):
        d_b = torch.full_like(fwd["b"], s2)
        wide = torch.promote_types(x.dtype, torch.float32)
        return {"b": d_b, "a": d_b * s1, "w": (x.to(wide) * (big * s1 * s2)).to(w.dtype)}

    report = verify_chain(forward, backward, {"w": torch.ones(4, dtype=torch.float16)}, {"x": torch.ones(4).half()})
    assert report.ok, report.message()
    (w,) = [r for r in report.rows if r.name == "w"]
    assert float(report.autograd["w"][0]) == 0 and w.status == "ok"
    assert w.problem.startswith("as accurate as autograd: in float16 |manual - autograd| 0.0001 > allowed"), w.problem
    assert w.ratio <= 1 and w.ratio_at == pytest.approx(w.ratio) and w.diff <= w.allowance and not w.mismatched, w
    assert f"  w: {w.problem}\n" in report.message()
    line = report.table().splitlines()[[r.name for r in report.rows].index("w") + 1]
    assert f"{w.ratio_at:.3g}" in line and "0/4" in line, line
