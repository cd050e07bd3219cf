"""The error model: how far autograd's own gradient is uncertain through rounding, at every element, in any dtype.

    u_i       = max(½·ε·|a_i|, ε·tiny, s_i)  autograd's uncertainty at element i
    ½·ε·|a_i|, ε·tiny                         the rounding of its own result (tiny: the smallest normal): free
    s_i       = max_k |a_i^(k) − a_i|        measured where the bound is not enough: Monte Carlo arithmetic (after
                                             check/propagated.py's estimate of it, which only settles agreement)
    allowed_i = MULTIPLIER · u_i
ε = torch.finfo(dtype).eps of the dtype autograd computed a_i in (bfloat16 2^-7, float16 2^-10, float32 2^-23,
float64 2^-52). a^(k), k = 1..DRAWS: autograd's backward run again from the same forward, with every floating-point
input and output of every operation of the backward multiplied by (1 + r·ε), r = ±1 at random, element by element
(Parker's "full" Monte Carlo arithmetic: a random rounding error of one ULP at every operand and result). The spread
of a^(k) around a is how far rounding alone moves autograd's gradient at that point, its conditioning included.

Why the inputs of each operation too, not only its result: a cancellation inside one operation (softmax's backward
p ∘ (dp − Σ p ∘ dp) on a near one-hot row, a matmul's long sum) happens between its operands and its result; with
only results perturbed, a perturbed dp enters both terms alike and still cancels, and the spread misses the rounding
error the kernel really makes (measured on peaky causal attention in float32: manual off by up to 4e6 times the
spread of result-only perturbations; with the operands perturbed too, at most about 2 times; docs/precision.md).
Why the backward only, from one forward: the backward under test receives autograd's own forward values (the same
tensors, bit for bit), so the forward's rounding is common to both sides and must not widen the allowance.
The values the hand backward is handed (the forward's results, the parameters, the inputs) are themselves rounded,
and a correct backward may use ones autograd's does not (σ where autograd differentiates logsigmoid(z) from z: then
σ − y cancels in the hand formula only). So s_i also takes the spread of the backward's own result when each value
it is handed is moved by ±½ ULP (given_values_spread), the most rounding moved it: carried through its formula. An
O(1) slip is not excused by it: that would take a formula whose conditioning is 1/ε.
Why the sign ±1 and not a uniform fraction: a rounding error is at most ½ ULP, so a full ULP of either sign
over-estimates it, and the max over DRAWS draws is then an upper estimate rather than a typical one (a single
element whose draws all happen to land small is the false alarm this guards against).
"""

import functools
import math
import random

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map

# Why 8 (the allowance, in units of u): manual and autograd are two roundings of the same mathematics; measured over
# the stress battery (tests/stress/, 1,044 correct verifications in four dtypes) |manual - autograd| / u reaches 3.9
# (0.485 of the allowance, over the quarter aimed at: docs/precision.md), while an error of 16 u is still caught.
# On the rounding bound alone, 8 · ½ε|a| = 4ε|a|: the lesson's neuron needs at most 3 (three roundings a side,
# tests/check/test_tolerances.py) and a float32 relative error of 1e-6 (8.4 ε) is caught.
MULTIPLIER = 8.0
MARGIN = MULTIPLIER / 4  # below MARGIN · u on the rounding bound alone an element needs no measurement
DRAWS = 8  # Monte Carlo draws; the max over 8 draws of a ±1-ULP spread is below a quarter of its scale with p < 1e-5

_NORM_BACKWARD = {"native_layer_norm_backward", "native_batch_norm_backward", "native_group_norm_backward"}
_SIGNS: dict = {}  # (dtype, device) -> a fixed random sequence of ±1, grown by blocks (_pool)
_UNIT: dict = {}  # (dtype, device) -> 1 + ε · the same sequence
_HALF: dict = {}  # (dtype, device) -> ½ε · the same sequence
_BLOCK = 1 << 16  # block k of the sequence is drawn from seed _SEED + k: the same numbers whatever grew it, so
_SEED = 20261207  # that a measurement does not depend on what ran before it in the process
_STARTS = 1 << 16  # a window starts at one of the first _STARTS positions
_NO_NOISE = {"detach", "alias", "view", "_unsafe_view", "lift_fresh", "empty", "zeros", "zeros_like", "empty_like"}


def eps(dtype: torch.dtype) -> float:
    """ε: the distance from 1 to the next float of `dtype`; a ValueError for a dtype that is not floating point."""
    if not dtype.is_floating_point:
        raise ValueError(f"{dtype} is not a floating-point dtype: a gradient is floating point")
    return torch.finfo(dtype).eps


def rounding_bound(autograd: torch.Tensor) -> torch.Tensor:
    """max(½·ε·|a_i|, ε·smallest normal) in float64: the rounding of autograd's own result (half an ULP; below the
    normal range, one ULP of the subnormals), the least it can be uncertain."""
    return bound_of(autograd.detach().to(torch.float64).abs(), autograd.dtype)


def bound_of(magnitude: torch.Tensor, dtype: torch.dtype, out: torch.Tensor | None = None) -> torch.Tensor:
    """rounding_bound from |a_i| (float64; returned in a new tensor, or in `out`), for a gradient of `dtype`."""
    info = torch.finfo(dtype)
    return torch.mul(magnitude, 0.5 * info.eps, out=out).clamp_(min=info.eps * info.smallest_normal)


def _reduction(name: str, args) -> tuple[int, int] | None:
    """(which operand, K): the operand an operation sums K products of, per element of its result, or None."""
    first = next((i for i, a in enumerate(args) if isinstance(a, torch.Tensor)), None)
    # a product's two operands: either one moved by ε√K spreads each sum alike (Σ_k a_k b_k r_k ε√K); the larger
    # one takes it (under the batched draws of 2026-12-07 the one that carried the draws; kept, as measured since)
    if name in ("mm", "bmm", "mv", "dot", "vdot"):
        return int(args[1].numel() > args[0].numel()), args[0].shape[-1]
    if name in ("addmm", "baddbmm", "addbmm", "addmv"):
        return 1 + int(args[2].numel() > args[1].numel()), args[1].shape[-1]
    if name in ("_softmax_backward_data", "_log_softmax_backward_data"):
        return 0, args[0].shape[args[2]] if args[0].ndim else 1
    if name == "native_layer_norm_backward":
        return 0, int(torch.Size(args[2]).numel())
    if first is None:
        return None
    return None


class RandomRounding(TorchDispatchMode):
    """Every floating-point operand and result of every operation multiplied by (1 ± ε), a random sign per element;
    an operation that sums K products per result element (a matmul, a reduction, softmax's backward) has one operand
    multiplied by (1 ± ε·√K) instead: the spread of such a sum is then ε·√K·‖terms‖₂ ≥ ε·‖terms‖₁, the size of the
    rounding errors its accumulation makes, which no operand's one ULP alone would show.

    Operations that alias or write in place are run untouched (their result must stay the tensor they were given)."""

    def __init__(self, generator: torch.Generator):
        # a dispatch mode's first operation imports torch._dynamo (torch._disable_dynamo wraps __torch_dispatch__):
        # imported here, outside the mode, so that the import's own operations never run under it (a half-done import
        # there left torch._inductor's TORCH_LIBRARY registered twice and failed every later torch.optim in the process)
        import torch._dynamo  # noqa: F401

        super().__init__()
        self.generator = generator
        # where each tensor's signs start in the pool (_signs): one draw per tensor, not one per element
        self.offsets = random.Random(int(torch.randint(0, 2**62, (1,), generator=generator)))

    def _window(self, t: torch.Tensor, pool: dict) -> torch.Tensor:
        """t's window of a pool (_pool): at a random start among the first _STARTS."""
        start = self.offsets.randrange(_STARTS)
        # one as_strided rather than a slice and a view: this runs for every operand of every operation
        return _pool(pool, t.dtype, t.device, start + t.numel()).as_strided(t.shape, _strides(t.shape), start)

    def _signs(self, t: torch.Tensor) -> torch.Tensor:
        """±1 per element of t (t's dtype, device and shape): a window of a fixed random sequence, at a random start.
        Windows of one iid sequence at independent random starts are as good as fresh draws here and cost no
        random number per element (a tenth of the measurement's time went to torch.randint)."""
        return self._window(t, _SIGNS)

    def _noisy(self, t, scale: float = 1.0):
        if not (isinstance(t, torch.Tensor) and t.is_floating_point()):
            return t
        if not t.numel():
            return t
        eps, tiny, wide = _info(t.dtype)
        if scale == 1.0 and wide:
            # t · (1 ± ε): the same number as t ± ε·|t| below, rounded once; zeros and infinities stay as they are
            # by themselves. float32 and float64 only: there a subnormal (below 1e-38, 1e-308) is not a value a
            # gradient meets, while float16's start at 6e-5 and keep the floor below
            return t * self._window(t, _UNIT)
        magnitude = t.abs()
        if scale == 0.5 and wide and bool(magnitude.amax() < math.inf):  # no inf (and no NaN: amax propagates it)
            # a handed value moved by ±½ ULP (_nudged): the same numbers as below, in 3 operations instead of 9
            # (below float32's and float64's normal range the floor is left out, as on the line above)
            return t + self._window(t, _HALF) * magnitude
        # ±ε·|t|, and at least one ULP of the subnormals (ε · the smallest normal): a subnormal times (1 ± ε) rounds
        # back to itself, yet every operation on subnormals loses digits; infinities and zeros stay as they are.
        # An exact 0 stays 0: a masked score's probability, a ReLU's kink at z = 0 (moving it would flip which side
        # of the kink it is on, an O(1) change that no rounding of a computed 0 makes). NaN stays NaN by itself.
        kept = (magnitude == 0).logical_or_(magnitude == math.inf)
        # step = ±1 · c · max(|t|, tiny), c = ε·scale rounded to t's dtype first: the product ±c·max(|t|, tiny),
        # rounded once, whichever of the three is multiplied first (±1 is exact), so in place, in |t|'s buffer
        step = magnitude.clamp_(min=tiny).mul_(_rounded(eps * scale, t.dtype)).mul_(self._signs(t))
        return torch.where(kept, t, step.add_(t))

    def _step(self, out, g, terms: torch.Tensor | None = None):
        """±ε·|g| per element of out: a rounding of the O(1) local derivative that multiplies g; ±ε·|g|·T where the
        local derivative's terms are larger than O(1) before they cancel (T = Σ|terms|, _local_terms)."""
        if not (isinstance(out, torch.Tensor) and out.is_floating_point() and isinstance(g, torch.Tensor)):
            return torch.zeros_like(out) if isinstance(out, torch.Tensor) else 0
        if terms is None:
            return self._signs(out) * torch.finfo(out.dtype).eps * g.abs().to(out.dtype)
        size = g.detach().to(torch.float64).abs() * terms * torch.finfo(out.dtype).eps
        return self._signs(out) * size.to(out.dtype)

    def _shifted(self, t):
        """t ± ε·max(|t|, 1): a value in the log domain, rounded relatively itself (ε|t|), whose exp the operation
        rounds relatively (ε absolutely in t)."""
        step = self._signs(t) * torch.finfo(t.dtype).eps * t.abs().clamp(min=1)
        return torch.where(torch.isfinite(t), t + step, t)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name, untouched = _kind(func)
        if untouched:
            return func(*args, **kwargs)
        reduced, out = _reduction(name, args), None
        if reduced is None:  # a sum over the operand's elements that the result lacks (sum, mean, ...)
            # run with every operand moved by one ULP, to see how many elements each result sums; most operations
            # sum none and that is their result; a sum is run again, its summed operand moved by ε√K, from the same
            # windows (the draws are those a plain run first would give: the result does not depend on which)
            drawn = self.offsets.getstate()
            out = func(*map(self._noisy, args), **(tree_map(self._noisy, kwargs) if kwargs else {}))
            sizes = [a.numel() for a in args if isinstance(a, torch.Tensor) and a.is_floating_point()]
            numel = max((o.numel() for o in tree_flatten_tensors(out)), default=0)
            if sizes and numel and max(sizes) > numel:
                reduced = next(i for i, a in enumerate(args) if isinstance(a, torch.Tensor) and a.numel() == max(sizes))
                reduced, out = (reduced, max(sizes) // numel), None
                self.offsets.setstate(drawn)
        if out is None:
            summed = reduced[0] if reduced[1] > 1 else None
            noisy = [self._noisy(a, reduced[1] ** 0.5 if i == summed else 1.0) for i, a in enumerate(args)]
            if name == "_log_softmax_backward_data":  # its `output` is log p: the kernel's exp(log p) rounds p by ε
                noisy[1] = self._shifted(args[1])  # relatively, which log p ± ε·|log p| does not show near p = 1
            out = func(*noisy, **(tree_map(self._noisy, kwargs) if kwargs else {}))
        if name.endswith("_backward") and name not in _NORM_BACKWARD and _same_shape(args, out):
            # a fused elementwise backward, g ∘ local(x): its local derivative's terms are O(1) and round to ε
            # absolutely inside the kernel (1 + tanh(...) near -1 in GELU's), which no operand's ULP shows
            out = out + self._step(out, args[0], _local_terms(name, args, kwargs))
        return self._noisy(out) if isinstance(out, torch.Tensor) else tree_map(self._noisy, out)


_GELU_C, _GELU_K = math.sqrt(2 / math.pi), 0.044715


def _local_terms(name: str, args, kwargs) -> torch.Tensor | None:
    """T = Σ|terms| of a fused backward's local derivative, in float64, where its terms grow past O(1) and cancel;
    None elsewhere (T = 1). gelu_backward with approximate="tanh": GELU'(x) = ½(1 + t) + ½x(1 - t²)·c(1 + 3kx²), t =
    tanh(c(x + kx³)); at x = -7, 1 + t and 1 - t² are 1 - 1 and 1 - 1 rounded to 0 while the exact GELU' is ~1e-15:
    the kernel's error is ε·T·|g| with T ~ 46 there (measured: autograd 14 ε|g| from the exact value, and a correct
    hand backward flagged at 8 ε|g|, in all four dtypes). The erf GELU and the other fused backwards sum terms of
    size O(1) or of their result's size."""
    if name != "gelu_backward" or kwargs.get("approximate", args[2] if len(args) > 2 else "none") != "tanh":
        return None
    x = args[1].detach().to(torch.float64)
    t = torch.tanh(_GELU_C * (x + _GELU_K * x * x * x))
    return 0.5 * (1 + t.abs()) + 0.5 * x.abs() * (1 + t * t) * _GELU_C * (1 + 3 * _GELU_K * x * x)


_KINDS: dict = {}


def _kind(func) -> tuple[str, bool]:
    """(the operation's name, whether it is run untouched: it aliases, writes in place or is in _NO_NOISE); cached per
    operation, as the backward calls the same few thousands of times."""
    if func not in _KINDS:
        schema = func._schema
        aliasing = schema.is_mutable or any(r.alias_info is not None for r in schema.returns)
        name = func.__name__.split(".")[0]
        _KINDS[func] = (name, aliasing or name in _NO_NOISE)
    return _KINDS[func]


def _pool(pool: dict, dtype: torch.dtype, device: torch.device, length: int) -> torch.Tensor:
    """The pool's sequence for (dtype, device), at least `length` long: ±1 (_SIGNS), 1 ± ε (_UNIT) or ±½ε (_HALF)."""
    have = pool.get((dtype, device))
    if have is not None and have.numel() >= length:
        return have
    blocks = []
    for k in range(-(-length // _BLOCK)):
        g = torch.Generator().manual_seed(_SEED + k)
        blocks.append(torch.randint(0, 2, (_BLOCK,), generator=g, dtype=torch.int8) * 2 - 1)
    signs = torch.cat(blocks).to(dtype)
    if pool is _SIGNS:
        sequence = signs
    elif pool is _HALF:
        sequence = 0.5 * _info(dtype)[0] * signs.to(torch.float64)
    else:
        sequence = 1 + _info(dtype)[0] * signs.to(torch.float64)
    pool[(dtype, device)] = sequence.to(dtype).to(device)
    return pool[(dtype, device)]


@functools.lru_cache(maxsize=4096)
def _strides(shape: torch.Size) -> tuple[int, ...]:
    """The strides of a contiguous tensor of `shape`."""
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


@functools.cache
def _info(dtype: torch.dtype) -> tuple[float, float, bool]:
    """(ε, the smallest normal, wider than 16 bits) of a floating-point dtype."""
    info = torch.finfo(dtype)
    return info.eps, info.smallest_normal, info.bits > 16


@functools.lru_cache(maxsize=256)
def _rounded(c: float, dtype: torch.dtype) -> float:
    """c rounded to `dtype`, as a Python float: what a tensor of that dtype times c multiplies by, where the
    product is then computed exactly (16-bit operands in float32) or in the dtype itself."""
    return float(torch.tensor(c, dtype=torch.float64).to(dtype))


def _same_shape(args, out) -> bool:
    """An elementwise operation's result: one tensor of its first operand's shape."""
    first = args[0] if args else None
    return isinstance(out, torch.Tensor) and isinstance(first, torch.Tensor) and first.shape == out.shape


def tree_flatten_tensors(out) -> list[torch.Tensor]:
    from torch.utils._pytree import tree_leaves

    return [t for t in tree_leaves(out) if isinstance(t, torch.Tensor)]


def monte_carlo_spread(
    loss: torch.Tensor, targets: list[torch.Tensor], autograd: list[torch.Tensor], draws: int = DRAWS
) -> list[torch.Tensor]:
    """s = max_k |a^(k) - a| per element (float64), for each target, from DRAWS backward passes under RandomRounding.

    `loss` and `targets` are in autograd's graph, kept (retain_graph); `autograd` are its unperturbed gradients.
    Each pass is a backward of its own, so that every operation of every pass gets a noise of its own. Not one
    backward vmapped over a seed of DRAWS ones (is_grads_batched; used here until 2026-12-08, 3-5 times faster on
    small graphs): there an operation on values saved by the forward alone (sigmoid(z) - y in the backward of
    binary_cross_entropy_with_logits, 1 - y² in tanh's) runs once, before anything that carries the draws, so its
    noise is one for all DRAWS, and where its few ±ε happen to cancel at an element, they cancel in every draw: on
    BCE-with-logits at z ~ 5 ± 0.5, 1% of the elements had a spread below a quarter of σ's own rounding (ε/N), and a
    correct hand backward nearer the exact gradient than autograd was flagged (tests/check/test_model.py)."""
    device = loss.device
    gen = torch.Generator(device=device).manual_seed(0)
    spread = [torch.zeros(a.shape, dtype=torch.float64, device=a.device) for a in autograd]
    seed = torch.ones_like(loss)
    for _ in range(draws):
        with torch.enable_grad(), RandomRounding(gen):
            grads = torch.autograd.grad(
                loss, targets, seed, retain_graph=True, allow_unused=True, materialize_grads=True
            )
        for s, g, a in zip(spread, grads, autograd):
            torch.maximum(s, _distance(g, a), out=s)  # non-finite draws say nothing
    return spread


def _distance(g: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """|g - a| in float64, 0 where it is not finite (NaN or inf: a draw or a value that says nothing there), in one
    new tensor, g copied into it as float64 and finished in place (g is never written into)."""
    d = torch.empty(torch.broadcast_shapes(g.shape, a.shape), dtype=torch.float64, device=g.device)
    return d.copy_(g.detach()).sub_(a.detach().to(torch.float64)).abs_().nan_to_num_(nan=0.0, posinf=0.0)


def _nudged(values, generator: torch.Generator):
    """Each floating-point tensor of a dict moved by ±½ ULP, the most its rounding moved it, the rest as given."""
    mode = RandomRounding(generator)
    return {k: mode._noisy(v, 0.5) if isinstance(v, torch.Tensor) else v for k, v in values.items()}


def given_values_spread(backward, fwd, params, inputs, got, draws: int = DRAWS) -> dict[str, torch.Tensor]:
    """max_k |m^(k) - m| per name: the hand backward `backward(fwd, params, inputs)` again on its values each moved
    by ±½ ULP, against what it returned (`got`); names whose result is not a floating-point tensor are left out."""
    gen = torch.Generator(device=next(iter(params.values())).device).manual_seed(1)
    spread: dict[str, torch.Tensor] = {}
    for _ in range(draws):
        with torch.no_grad():
            try:
                again = backward(_nudged(fwd, gen), _nudged(params, gen), _nudged(inputs, gen))
            except Exception:  # a backward that cannot run on nudged values: nothing measured on its side
                return {}
        for k, m in got.items():
            g = again.get(k) if isinstance(again, dict) else None
            if not (isinstance(m, torch.Tensor) and isinstance(g, torch.Tensor) and g.shape == m.shape):
                continue
            if not (m.is_floating_point() and g.is_floating_point()):
                continue
            d = _distance(g, m)
            spread[k] = torch.maximum(spread[k], d, out=spread[k]) if k in spread else d
    return spread


def forward_spread(compute, expected: dict, draws: int = DRAWS) -> dict[str, torch.Tensor]:
    """max_k |o^(k) - o| per output (float64): `compute()` (a dict of outputs, a reference forward) again DRAWS times
    under RandomRounding, against its unperturbed outputs `expected`: the forward's own rounding at every element."""
    gen = torch.Generator().manual_seed(2)
    spread = {k: torch.zeros(o.shape, dtype=torch.float64, device=o.device) for k, o in expected.items()}
    for _ in range(draws):
        with torch.no_grad(), RandomRounding(gen):
            again = compute()
        for k, o in expected.items():
            d = (again[k].detach().to(torch.float64) - o.detach().to(torch.float64)).abs()
            torch.maximum(spread[k], torch.nan_to_num(d, nan=0.0, posinf=0.0), out=spread[k])
    return spread


def forward_and_backward_spread(run, autograd: dict[str, torch.Tensor], draws: int = DRAWS) -> dict[str, torch.Tensor]:
    """max_k |a^(k) - a| per name (float64): the forward AND its backward again DRAWS times under RandomRounding.

    run() -> (J, {name: tensor in J's graph}) builds the graph afresh (the forward on new leaves); `autograd` holds
    the unperturbed dJ/d(name). For gradients that come from a forward of their own (another process's shard of it,
    another order of summation): the forward's rounding is then not common to both sides, and the values the backward
    starts from (o - y of a rank's own o) differ from autograd's by that rounding, carried through."""
    device = next(iter(autograd.values())).device
    gen = torch.Generator(device=device).manual_seed(3)
    spread = {k: torch.zeros(a.shape, dtype=torch.float64, device=a.device) for k, a in autograd.items()}
    for _ in range(draws):
        with torch.enable_grad(), RandomRounding(gen):
            loss, targets = run()
            names = [k for k in autograd if k in targets]
            grads = torch.autograd.grad(loss, [targets[k] for k in names], allow_unused=True, materialize_grads=True)
        for k, g in zip(names, grads):
            d = (g.detach().to(torch.float64) - autograd[k].detach().to(torch.float64)).abs()
            torch.maximum(spread[k], torch.nan_to_num(d, nan=0.0, posinf=0.0), out=spread[k])
    return spread
