"""The stress battery's machinery, shared by its tests and by the subprocesses of the CPU-capability check.

What is verified: every case of cases.py in every dtype at SEEDS (LONG_SEEDS for the 100,000-sample cases), with
backprop_manual.verify_chain(forward, backward, params, inputs), the public API and nothing else of the verifier.

Autograd's own measured error, defined here independently of the verifier (a planted error is 16 times it):
    float32, bfloat16, float16:  err(name) = max over the tensor of |autograd in the dtype - autograd in float64 on the
                                 same values upcast|  (the dtype's parameters and inputs, exactly, in float64)
    float64 (no wider type in torch): err(name) = the largest spread, max over the tensor of (max - min) over the
                                 unperturbed run and 4 draws, of float64 autograd when every parameter and every
                                 floating input is multiplied by (1 ± 2^-52), the sign random per element: a random
                                 1-ULP relative perturbation (Monte Carlo arithmetic at the inputs)
A planted error moves the correct backward's gradient at one name, at the element where |autograd| is largest (where
a relative allowance is widest), or along that element's whole row of a [B, T, T] gradient, by
    16 · max(err(name), eps(dtype) · |autograd at that element|)  in the direction of its sign
the second term (16 ULP of the element) only where autograd is exact to the last bit at every element (err 0, the
ReLU kinks), so that a plant is never rounded away. It must come out as a MISMATCH first at that name.
Where a gradient is 0 in exact arithmetic (dJ/ds of the softmax shift, dJ/dW of the least-squares optimum) it is
itself rounding noise, so the plant is larger than the gradient: there the scale that counts is what flows in. At the
ReLU kinks the float64 spread includes relu'(0) flipping (1 ULP moves z off 0), so the float64 plant at z1 is as large
as the gradient; the other dtypes measure at the same values and plant at their own, small, error.
"""

import functools
import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import torch

from backprop_manual import verify_chain
from tests.stress.cases import CASES, DTYPES, rounded

SEEDS = range(23)  # 11 cases x 4 dtypes x 23 seeds + 2 long cases x 4 dtypes x 4 seeds = 1,044 verifications
LONG_SEEDS = range(4)  # the 100,000-sample cases cost ten times the others
PLANT_SEEDS = (0,)
PLANT_FACTOR = 16.0
PERTURBATION_DRAWS = 4
RATIO_BOUND = 0.25  # the largest |diff| / allowance allowed over the battery: nothing passes by a hair

# The error model's known gaps on this battery (measured 2026-12-07 on the error model's first version, issue 16 left
# open for them): planted errors of 16 x the tensor's largest |autograd - float64| that the allowance 8 u covers,
# because the measured u is 2-3 times that error there (an accumulation's ε√K·|terms|₂ and the max over 8 draws are
# upper estimates; the hand backward's handed values moved by half an ULP). strict: missed on every CPU measured, so a
# catch is news; not strict: within a factor 1.2 of the allowance, so the verdict changes with the CPU's summation
# order (ATEN_CPU_CAPABILITY=default against avx2), which the capability test then leaves out.
_MISSED = "planted at 16 x autograd's measured error, inside 8 u: u is 2-3 x that error here"
KNOWN_GAPS: dict[tuple[str, str, int, str, str], tuple[str, bool]] = {
    **{
        (case, dtype, 0, name, "element"): (_MISSED, True)
        for case, dtype, name in [
            ("attention-x2", "float32", "q"),
            ("attention-x2", "float32", "masked"),
            ("layernorm-fused-spread1e-4", "float32", "x"),
            ("batchnorm-spread1e-4", "float32", "xc"),
            ("batchnorm-spread1e-4", "float32", "x"),
            ("batchnorm-fused-spread1e-3", "float32", "x"),
            ("relu-kinks", "float32", "h2"),
            ("relu-kinks", "float32", "z1"),
            ("logistic-1e5", "float32", "z"),
            ("logistic-1e5", "float32", "w"),
            ("softmax-shift", "float32", "s"),
            ("bias-into-batchnorm", "float32", "z"),
        ]
    },
    ("xent-x30", "float32", 0, "W1", "element"): (_MISSED + ", by a factor ~1: the CPU's sum order decides", False),
    ("bias-into-batchnorm", "float32", 0, "W", "element"): (_MISSED + ", by a factor ~1: the CPU decides", False),
    ("xent-x100", "float32", 0, "W1", "element"): (_MISSED + ", by a factor ~1: the CPU decides", False),
    ("attention-x2", "float32", 0, "att", "row"): (_MISSED + ", by a factor ~1: the CPU decides", False),
    ("attention-x4", "float32", 0, "att", "row"): (_MISSED + ", by a factor ~1: the CPU decides", False),
    **{
        (case, dtype, 0, name, "element"): (_MISSED + ", by a factor 1.01-1.3: the draws decide", False)
        for case, dtype, name in [
            ("layernorm-spread1e-3", "float32", "x"),  # |diff| / allowance at the plant 0.85
            ("relu-kinks", "float64", "h2"),  # 0.99
            ("softmax-shift", "float64", "s"),  # 0.97
            ("softmax-shift", "float32", "logits"),  # 0.77
        ]
    },
}
# The draws decide the edge, not only the CPU: when the Monte Carlo draws came from a fixed sequence of signs instead
# of torch.randint (2026-12-07, the same distribution, three times faster), layernorm-spread1e-3 float32 xc and x and
# bias-into-batchnorm float64 z went from missed to caught, attention-x2 float32 masked from caught to missed, and the
# xent-x100 W1 and attention att-row plants became CPU-dependent: 8 draws estimate u within a factor ~1.5. When the
# eight draws became one vmapped backward (batched: check/model.py, monte_carlo_spread), the four plants of the last
# group above went from caught (|diff| / allowance 1.2-1.3 there) to missed (0.77-0.99), with no other change: over
# four generator seeds the battery caught 86-87 of 104 batched, and 88-90 over two seeds drawn one by one (2026-12-07).
# The batched draws shared one noise among the draws for operations on saved values, and under-measured what cancels
# there (check/model.py, monte_carlo_spread); drawn one by one again (2026-12-08), 90 are caught here: of the edge
# group below and the "CPU decides" ones above, all but xent-x30 W1 (0.43 of the allowance) and bias-into-batchnorm W
# (0.74), at 1.12-1.46 times the allowance, so that they stay listed (not strict): other draws or sums may move them
# The largest |diff| / allowance over the battery's correct derivations was 0.408 (batchnorm-fused-spread1e-3 float64
# seed 2, dJ/dgamma: the draws do not see the rounding of the batch mean that the hand backward recomputes) until the
# first tier (check/propagated.py) settled those rows. Since (2026-12-07): 0.250, where a 16-bit row is one ULP apart
# on the rounding bound; a row settled by the rounding bound or by the estimate is within RATIO_BOUND by construction
# (anything past it goes on to the next tier), and the rows the draws decide reached 0.164 (attention-x4 float32).


def seeds(case: str) -> range:
    return LONG_SEEDS if CASES[case].category == "long" else SEEDS


def verification_ids() -> list[tuple[str, str, int]]:
    """(case, dtype, seed) of every verification of a correct derivation, in a fixed order."""
    return [(c, d, s) for c in CASES for d in DTYPES for s in seeds(c)]


def plant_ids() -> list[tuple[str, str, int, str, str]]:
    """(case, dtype, seed, name, "element" or "row") of every planted error."""
    out = []
    for c, case in CASES.items():
        where = [(n, "element") for n in case.plants] + ([(case.row_plant, "row")] if case.row_plant else [])
        out += [(c, d, s, n, kind) for d in DTYPES for s in PLANT_SEEDS for n, kind in where]
    return out


@functools.cache
def _float64_point(case: str, seed: int):
    return CASES[case].build(torch.float64, "cpu", seed)


def point(case: str, dtype: str, seed: int, device="cpu"):
    """The case at `seed` rounded to `dtype` on `device`: exactly what CASES[case].build(dtype, device, seed) gives
    (it too draws in float64, then rounds), the float64 draw made once per seed for all dtypes."""
    forward, backward, params, inputs = _float64_point(case, seed)
    dt = DTYPES[dtype]
    return forward, backward, rounded(params, dt, device), rounded(inputs, dt, device)


@dataclass
class Verified:
    case: str
    dtype: str
    seed: int
    loss: float  # J, which must be finite
    elements: int  # elements the verifier must compare: every named intermediate and parameter
    report: object = None  # the ChainReport, None when verify_chain raised
    error: str = ""  # what verify_chain raised (today: bfloat16 and float16 are refused)
    seconds: float = 0.0
    trace: str = ""  # its traceback

    @property
    def ok(self) -> bool:
        return self.report is not None and self.report.ok

    @property
    def ratio(self) -> tuple[float, str]:
        """The largest |diff| / allowance over its rows (1 / headroom) and which row: the battery wants <= 0.25."""
        if self.report is None:
            return math.inf, "verify_chain raised"
        worst = max(self.report.rows, key=lambda r: 0.0 if r.headroom == math.inf else 1 / r.headroom)
        return (0.0 if worst.headroom == math.inf else 1 / worst.headroom), worst.name

    @property
    def id(self) -> str:
        return f"{self.case}-{self.dtype}-seed{self.seed}"


def run(forward: Callable, backward: Callable, params: dict, inputs: dict, case: str, dtype: str, seed: int):
    with torch.no_grad():
        fwd = forward(**params, **inputs)
    elements = sum(t.numel() for k, t in fwd.items() if k != "loss") + sum(p.numel() for p in params.values())
    start = time.perf_counter()
    try:
        report, error = verify_chain(forward, backward, params, inputs), ""
    except Exception as e:  # counted as a failure and shown: a refusal (today's 16-bit dtypes) is not a verdict
        report, error, trace = None, f"{type(e).__name__}: {e}", traceback.format_exc()
    else:
        trace = ""
    seconds = time.perf_counter() - start
    return Verified(case, dtype, seed, float(fwd["loss"]), elements, report, error, seconds, trace)


@functools.cache
def verified(case: str, dtype: str, seed: int) -> Verified:
    """verify_chain on the correct derivation, once per process."""
    forward, backward, params, inputs = point(case, dtype, seed)
    return run(forward, backward, params, inputs, case, dtype, seed)


def autograd_gradients(forward: Callable, params: dict, inputs: dict) -> dict[str, torch.Tensor]:
    """dJ/d(name) by autograd for every named intermediate and parameter: the battery's own, not the verifier's."""
    leaves = {k: p.detach().requires_grad_(True) for k, p in params.items()}
    with torch.enable_grad():
        out = forward(**leaves, **inputs)
        loss = out.pop("loss")
        names = [*out, *leaves]
        grads = torch.autograd.grad(loss, [*out.values(), *leaves.values()], allow_unused=True, materialize_grads=True)
    return {n: g.detach() for n, g in zip(names, grads)}


def perturbed(tensors: dict, g: torch.Generator) -> dict:
    """Every floating tensor times (1 ± 2^-52), the sign random per element (drawn on the CPU, moved to the tensor's
    device): a random 1-ULP relative perturbation in float64."""
    out = {}
    for k, t in tensors.items():
        if t.is_floating_point():
            sign = (2 * torch.randint(0, 2, t.shape, generator=g) - 1).to(device=t.device, dtype=t.dtype)
            out[k] = t * (1 + sign * torch.finfo(t.dtype).eps)
        else:
            out[k] = t
    return out


@functools.cache
def measured_error(case: str, dtype: str, seed: int) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """(autograd's own error by name, as the module docstring defines it; autograd's gradients in the dtype)."""
    forward, _, params, inputs = point(case, dtype, seed)
    grads = autograd_gradients(forward, params, inputs)
    if DTYPES[dtype] == torch.float64:
        lo, hi = dict(grads), dict(grads)
        g = torch.Generator().manual_seed(1_000_003 + seed)
        for _ in range(PERTURBATION_DRAWS):
            other = autograd_gradients(forward, perturbed(params, g), perturbed(inputs, g))
            lo = {n: torch.minimum(lo[n], other[n]) for n in grads}
            hi = {n: torch.maximum(hi[n], other[n]) for n in grads}
        err = {n: float((hi[n] - lo[n]).max()) for n in grads}
    else:
        wide = autograd_gradients(forward, rounded(params, torch.float64, "cpu"), rounded(inputs, torch.float64, "cpu"))
        err = {n: float((grads[n].to(torch.float64) - wide[n]).abs().max()) for n in grads}
    return err, grads


@dataclass
class Plant:
    name: str
    kind: str  # "element" or "row"
    index: list[int]  # the element, or the row's [b, t]
    delta: float  # what was added, in float64, before rounding to the dtype
    error: float  # autograd's own measured error at this name
    scale: float  # max |autograd| of this gradient, for the record


def plant_for(case: str, dtype: str, seed: int, name: str, kind: str) -> Plant:
    """Where and by how much the planted error goes (module docstring): at the largest |autograd|, or its row."""
    err, grads = measured_error(case, dtype, seed)
    a = grads[name].to(torch.float64)
    if kind == "row" and a.ndim != 3:
        raise ValueError(f"a row plant wants a [B, T, T] gradient; {name} is {list(a.shape)}")
    at = int(a.abs().argmax())
    index = [int(i) for i in torch.unravel_index(torch.tensor(at), a.shape)]
    value = float(a.reshape(-1)[at])
    delta = math.copysign(PLANT_FACTOR * max(err[name], torch.finfo(DTYPES[dtype]).eps * abs(value)), value)
    return Plant(name, kind, index[:2] if kind == "row" else index, delta, err[name], float(a.abs().max()))


@functools.cache
def planted(case: str, dtype: str, seed: int, name: str, kind: str) -> tuple[Verified, Plant]:
    """verify_chain on the correct backward with one planted error, once per process."""
    forward, backward, params, inputs = point(case, dtype, seed)
    plant = plant_for(case, dtype, seed, name, kind)

    def wrong(fwd, **args):
        got = dict(backward(fwd, **args))
        got[name] = moved(got[name], plant)
        return got

    return run(forward, wrong, params, inputs, case, dtype, seed), plant


def moved(g: torch.Tensor, plant: Plant) -> torch.Tensor:
    """g with plant.delta added (in float64, then rounded to g's dtype) at its element or along its row."""
    g = g.clone()
    if plant.kind == "row":
        b, t = plant.index
        g[b, t] = (g[b, t].to(torch.float64) + plant.delta).to(g.dtype)
    else:
        i = tuple(plant.index)
        g[i] = (g[i].to(torch.float64) + plant.delta).to(g.dtype)
    return g


def correct_off(case: str, dtype: str, seed: int) -> dict[str, float]:
    """max |manual - autograd| of the correct derivation, by name, in units of autograd's own measured error there:
    what any error model must allow, 4 times over for |diff| / allowance <= 0.25 (inf where autograd is exact and
    manual is not)."""
    forward, backward, params, inputs = point(case, dtype, seed)
    err, grads = measured_error(case, dtype, seed)
    with torch.no_grad():
        correct = backward(forward(**params, **inputs), **params, **inputs)
    off = {n: float((correct[n].to(torch.float64) - grads[n].to(torch.float64)).abs().max()) for n in grads}
    return {n: off[n] / err[n] if err[n] else (0.0 if off[n] == 0 else math.inf) for n in grads}


def room(case: str, dtype: str, seed: int, name: str, kind: str) -> tuple[float, float]:
    """(4 max |manual - autograd| of the correct derivation at `name`, the planted |manual - autograd| at the plant):
    one allowance per gradient passes the correct derivation at |diff| / allowance <= 0.25 and catches the plant only
    if the first is below the second. The battery keeps its plants where that room exists."""
    forward, backward, params, inputs = point(case, dtype, seed)
    _, grads = measured_error(case, dtype, seed)
    with torch.no_grad():
        correct = backward(forward(**params, **inputs), **params, **inputs)[name]
    plant = plant_for(case, dtype, seed, name, kind)
    a = grads[name].to(torch.float64)
    off = (moved(correct, plant).to(torch.float64) - a).abs()
    return 4 * float((correct.to(torch.float64) - a).abs().max()), float(off[tuple(plant.index)].max())


def verdict(v: Verified) -> list:
    """What a verification decided, comparable across processes: ok, the first divergent name and its status."""
    if v.report is None:
        return [False, None, v.error.split(":")[0]]
    first = v.report.first_divergence
    return [v.report.ok, first and first.name, first and first.status]
