"""The error model's first tier: the size of Monte Carlo arithmetic's spread (check/model.py), propagated in one pass.

    V(y) = Σ_j J_j² · W_j + ε²·y²          per element of every result y of autograd's backward, J_j = ∂y/∂x_j
    W_j  = V(x_j) + k_j·ε²·x_j²            operand j: what rounding before it left (0 for a value the forward saved,
                                           common to both sides) and its own rounding, k_j = K for the operand that
                                           an operation sums K products of (a matmul, a reduction, softmax's
                                           backward), else 1; + ε²·g² where a fused elementwise backward rounds its
                                           O(1) local derivative (GELU's, tanh's)
    s_i  = C · √V(a_i)                     a_i autograd's gradient; C = CONFIDENCE
This is the variance of RandomRounding's perturbations (each operand and result moved by ±ε, a summed operand by
±ε√K) carried through the first-order Jacobian of each operation, the perturbations independent: what the Monte Carlo
draws sample, computed instead of drawn, in one pass of the backward with a few elementwise operations (and one matmul
per matmul) beside each of its operations. It is an estimate, not a bound: where two perturbations are correlated it
can be too small (then the element is not settled here and the draws measure it) or too large where they cancel. So
it only ever settles agreement: a gradient is judged on it only when every element lies within MARGIN · u of it
(a quarter of the allowance, check/model.py); otherwise it is set aside and the draws decide, as if it had not run.
An operation it has no rule for stops the pass: every name is then measured by the draws.

Why C = 3: the max over DRAWS = 8 draws of a sum of many ±1 terms of deviation σ is about 2σ (1σ where one term
dominates); two correct roundings of the same mathematics differ by up to about 5σ at the worst of 10^5 elements;
at C = 3 that lies within MARGIN · u = 6σ, while an error of 16 u is 48σ (docs/precision.md has the measurements).
"""

import functools
import math
import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from backprop_manual.check.model import _kind

CONFIDENCE = 3.0


class _NoRule(Exception):
    """An operation of the backward this tier has no rule for."""


def _wide(t: torch.Tensor) -> torch.Tensor:
    """t in float64 or float32: the dtype its variance is carried in (a 16-bit tensor's in float32)."""
    return t if t.dtype in (torch.float64, torch.float32) else t.float()


def _sq(t) -> torch.Tensor | float:
    return _wide(t) ** 2 if isinstance(t, torch.Tensor) else float(t) ** 2


class _ByIdentity:
    """tensor -> value by identity, an entry dropped when its tensor dies: torch.utils.weak.WeakIdKeyDictionary's
    contract at a fraction of its cost (its keys are Python objects with Python __eq__ and __hash__, ~2 ms of a
    50-operation backward): a dict by id(), each key's weakref callback removing its entry as the tensor is freed,
    before its id can be reused."""

    def __init__(self):
        self.entries: dict[int, tuple[weakref.ref, object]] = {}
        self.me = weakref.ref(self)  # the callbacks hold this map weakly: no cycle keeps its values alive after it

    def get(self, t, default=None):
        entry = self.entries.get(id(t))
        return default if entry is None else entry[1]

    def __getitem__(self, t):
        return self.entries[id(t)][1]

    def __setitem__(self, t, value) -> None:
        key, entries = id(t), self.entries
        entry = entries.get(key)
        ref = entry[0] if entry is not None else weakref.ref(t, functools.partial(_forget, self.me, key))
        entries[key] = (ref, value)


def _forget(me: weakref.ref, key: int, _) -> None:
    """A tensor of a _ByIdentity map was freed: its entry goes (unless the map went first)."""
    owner = me()
    if owner is not None:
        owner.entries.pop(key, None)


class PropagatedRounding(TorchDispatchMode):
    """Runs autograd's backward as it is, and beside each operation its result's variance V (module docstring), in
    units of ε² of `dtype` (the gradients' dtype: V of a float32 gradient is O(|a|²) and neither over- nor
    underflows where |a| does not)."""

    def __init__(self, dtype: torch.dtype):
        # as RandomRounding: a dispatch mode's first operation imports torch._dynamo; imported here, outside the mode
        import torch._dynamo  # noqa: F401

        super().__init__()
        self.eps = torch.finfo(dtype).eps
        self.var = _ByIdentity()  # result -> its V; a tensor not in it is exact (V = 0)
        self.own = _ByIdentity()  # operand -> (its version, its own rounding): computed once per write
        self.failed: str | None = None  # the first operation without a rule

    def variance(self, t: torch.Tensor) -> torch.Tensor | None:
        return self.var.get(t)

    def _own(self, x) -> float | torch.Tensor:
        """(ε_x / ε)² · x²: the rounding of x itself, in units of ε²; in 16 bits at least one ULP of the subnormals
        (ε_x · the smallest normal) where x is not 0, as RandomRounding moves it."""
        if not (isinstance(x, torch.Tensor) and x.is_floating_point()):
            return 0.0
        version, own = self.own.get(x, (None, None))
        if version != x._version:  # once per tensor (and write): a saved value is an operand of several operations
            info = torch.finfo(x.dtype)
            if info.bits > 16:
                own = _sq(x)
            else:
                wide = _wide(x).abs()
                own = torch.where(wide == 0, 0.0, wide.clamp(min=info.smallest_normal)) ** 2
            ratio = (info.eps / self.eps) ** 2
            own = own if ratio == 1 else ratio * own
            self.own[x] = (x._version, own)
        return own

    def _w(self, x, k: float = 1.0) -> torch.Tensor | float:
        """W(x) = V(x) + k · (rounding of x): what operand x brings."""
        if not (isinstance(x, torch.Tensor) and x.is_floating_point()):
            return 0.0
        v = self.var.get(x)
        own = self._own(x)
        if v is None:
            return own if k == 1 else own * k  # the cached own itself where k is 1: never written into
        return v + own if k == 1 else torch.add(v, own, alpha=k)

    def _wt(self, x, c=1.0, k: float = 1.0) -> list:
        """W(x)·c as terms of _total, unsummed: [(V(x), c), (x's own rounding, c, k)], so that a rule adds each into
        its result in place instead of first making W(x) a tensor of its own."""
        if not (isinstance(x, torch.Tensor) and x.is_floating_point()):
            return []
        v = self.var.get(x)
        return ([] if v is None else [(v, c)]) + [(self._own(x), c, k)]

    def _square(self, t) -> torch.Tensor | float:
        """t²: a plain tensor's (check _plain) is its own rounding, computed once per tensor (never written into)."""
        if isinstance(t, torch.Tensor) and t.is_floating_point() and self._plain(t):
            return self._own(t)
        return _sq(t)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.failed is None:
            try:
                v = self._rule(func, args, kwargs, out)
            except _NoRule:
                self.failed = str(func)
            except Exception as e:  # a rule that does not fit its call: no estimate, the draws measure every name
                self.failed = f"{func}: {type(e).__name__}: {e}"
            else:
                if isinstance(out, tuple | list) and isinstance(v, tuple):  # the norms' (input, weight, bias)
                    for o, w in zip(out, v, strict=True):
                        if isinstance(o, torch.Tensor) and w is not None:
                            self.var[o] = w
                elif v is not None:
                    target = args[0] if _kind(func)[1] and _mutates(func) else out
                    if isinstance(target, torch.Tensor):
                        self.var[target] = v
        return out

    def _rule(self, func, args, kwargs, out):  # noqa: C901 (one branch per operation)
        name, untouched = _kind(func)
        if name in _CREATES:
            return None
        if untouched:  # views, detach: V moves with the elements; in place: only those below
            if _mutates(func):
                if name == "add_":
                    alpha = kwargs.get("alpha", args[2] if len(args) > 2 else 1)
                    return _total(self._w(args[0]), (self._w(args[1]), _sq(alpha)), self._own(args[0]))
                if name == "copy_":
                    return self._w(args[1], 0.0) if isinstance(args[1], torch.Tensor) else None
                raise _NoRule
            v = self.var.get(args[0]) if isinstance(args[0], torch.Tensor) else None
            if v is None:
                return None
            if name in ("view", "_unsafe_view"):  # V may be an expanded view, not viewable as a shape
                return v.reshape(args[1])
            return func(v, *args[1:], **kwargs)
        y = self._own(out) if isinstance(out, torch.Tensor) else None
        a = args[0] if args else None
        b = args[1] if len(args) > 1 else kwargs.get("other")
        if name in ("add", "sub"):
            alpha = kwargs.get("alpha", args[2] if len(args) > 2 else 1)
            return _total(y, self._wt(a), self._wt(b, _sq(alpha)))
        if name == "mul":
            return _total(y, self._wt(a, self._square(b)), self._wt(b, self._square(a)))
        if name == "div":
            if not isinstance(b, torch.Tensor):
                return _total(y, self._wt(a, 1 / _sq(b)))
            quotient = (_wide(a) if isinstance(a, torch.Tensor) else a) / self._square(b)  # ∂(a/b)/∂b = -a/b²
            return _total(y, self._wt(a, 1 / self._square(b)), self._wt(b, _sq(quotient)))
        if name in ("neg", "clone", "_to_copy", "contiguous"):
            return _total(y, self._wt(a))
        if name in ("cat", "stack"):  # the operands' elements placed side by side
            parts = [_full(self._w(t), t) for t in a]
            return func(parts, *args[1:], **kwargs) + y
        if name in ("select_backward", "slice_backward", "index_select", "gather"):  # elements placed or picked
            return func(_full(self._w(a), a), *args[1:], **kwargs) + y
        if name in _UNARY and isinstance(a, torch.Tensor) and len(args) == 1:
            derivative = _UNARY[name](_wide(a), _wide(out))  # exp's is out itself: never written into
            square = derivative * derivative if derivative is out else derivative.square_()
            return _total(y, self._wt(a, square))
        if name == "pow" and isinstance(a, torch.Tensor) and not isinstance(b, torch.Tensor):
            return _total(y, self._wt(a, _sq(b * _wide(a) ** (b - 1))))
        if name in ("sum", "mean"):
            k = max(a.numel() // max(out.numel(), 1), 1)
            summed = func(self._w(a, k), *args[1:], **kwargs)
            return _total(y, (summed, 1 / k) if name == "mean" else summed)
        if name in ("mm", "bmm", "mv", "dot"):
            return _total(y, self._product(func, a, b))
        if name == "addmm":
            c, m1, m2 = args[:3]
            beta, alpha = kwargs.get("beta", 1), kwargs.get("alpha", 1)
            return _total(y, self._wt(c, _sq(beta)), (self._product(torch.mm, m1, m2), _sq(alpha)))
        if name == "masked_fill":
            return _full(self._w(a), a).masked_fill(args[1], 0.0) + y
        if name == "where":
            cond, x1, x2 = args[:3]
            return torch.where(cond, _full(self._w(x1), x1), _full(self._w(x2), x2)) + y
        if name == "threshold_backward":
            g, x, threshold = args[:3]
            return torch.where(x > threshold, _full(self._w(g), g), 0.0) + y
        if name == "tanh_backward":
            g, t = args[:2]
            t2 = _wide(t)
            return self._w(g) * (1 - t2 * t2) ** 2 + self._w(t) * (2 * _wide(g) * t2) ** 2 + _sq(g) + y
        if name == "sigmoid_backward":
            g, s = args[:2]
            s2 = _wide(s)
            return self._w(g) * (s2 * (1 - s2)) ** 2 + self._w(s) * (_wide(g) * (1 - 2 * s2)) ** 2 + _sq(g) + y
        if name == "log_sigmoid_backward":  # g · σ(-x), as logsigmoid'(x) = σ(-x)
            g, x = args[:2]
            s2 = torch.sigmoid(-_wide(x))
            return self._w(g) * s2**2 + self._w(x) * (_wide(g) * s2 * (1 - s2)) ** 2 + _sq(g) + y
        if name == "silu_backward":  # g · (σ(x) (1 + x (1 - σ(x))))
            g, x = args[:2]
            x2 = _wide(x)
            s2 = torch.sigmoid(x2)
            first = s2 * (1 + x2 * (1 - s2))
            second = s2 * (1 - s2) * (2 + x2 * (1 - 2 * s2))
            return self._w(g) * first**2 + self._w(x) * (_wide(g) * second) ** 2 + _sq(g) + y
        if name == "gelu_backward":
            g, x = args[:2]
            if kwargs.get("approximate", args[2] if len(args) > 2 else "none") != "none":
                raise _NoRule
            x2, xx = _wide(x), self._square(x)
            phi = torch.mul(xx, -0.5).exp_().mul_(1 / math.sqrt(2 * math.pi))
            first = torch.mul(x2, 1 / math.sqrt(2)).erf_().add_(1).mul_(0.5).addcmul_(x2, phi)  # GELU'
            second = torch.rsub(xx, 2).mul_(phi).mul_(_wide(g))  # g · GELU''
            return _total(y, self._wt(g, first.square_()), self._wt(x, second.square_()), self._square(g))
        if name == "_softmax_backward_data":
            g, p, dim = args[:3]
            g2, p2 = _wide(g), _wide(p)
            wg, wp = _full(self._w(g, g.shape[dim]), g), _full(self._w(p), p)
            from_g = p2 * p2 * ((1 - 2 * p2) * wg + (p2 * p2 * wg).sum(dim, keepdim=True))
            d = g2 - (p2 * g2).sum(dim, keepdim=True) - p2 * g2
            from_p = d * d * wp + p2 * p2 * ((g2 * g2 * wp).sum(dim, keepdim=True) - g2 * g2 * wp)
            return from_g.clamp(min=0) + from_p.clamp(min=0) + y
        if name == "_log_softmax_backward_data":
            g, logp, dim = args[:3]
            p2 = torch.exp(_wide(logp))
            wg = _full(self._w(g, g.shape[dim]), g)
            from_g = ((1 - 2 * p2) * wg + p2 * p2 * wg.sum(dim, keepdim=True)).clamp(min=0)
            # the kernel's exp(log p) rounds p by ε relatively: log p moved by ε·max(|log p|, 1) (RandomRounding)
            shift = _wide(logp).abs().clamp(min=1) ** 2 * (torch.finfo(logp.dtype).eps / self.eps) ** 2
            wl = shift if self.var.get(logp) is None else self.var[logp] + shift
            from_logp = (p2 * _wide(g).sum(dim, keepdim=True)) ** 2 * wl
            return from_g + from_logp + y
        if name == "nll_loss_backward":
            g = args[0]
            scale = _wide(out) / _wide(g).reshape(-1, *([1] * (out.ndim - 1)) if g.ndim else ())
            wg = self._w(g)
            wg = wg.reshape(-1, *([1] * (out.ndim - 1))) if isinstance(wg, torch.Tensor) and g.ndim else wg
            return torch.nan_to_num(scale * scale, nan=0.0) * wg + y
        if name == "index_put":
            base, indices, values = args[:3]
            k = max(values.numel() // max(out.numel(), 1), 1)
            accumulate = kwargs.get("accumulate", args[3] if len(args) > 3 else False)
            wv = _full(self._w(values, k), values)
            return torch.index_put(_full(self._w(base), base), indices, wv, accumulate) + y
        if name == "scatter" and func.__name__.endswith("src"):
            base, dim, index, src = args[:4]
            return torch.scatter(_full(self._w(base), base), dim, index, _full(self._w(src), src)) + y
        if name == "native_layer_norm_backward":
            g, x, shape, mean, rstd, weight = args[:6]
            stat = tuple(range(x.ndim - len(shape), x.ndim))
            return self._norm(out, g, x, mean, rstd, weight, stat, tuple(range(x.ndim - len(shape))))
        if name == "native_batch_norm_backward":
            g, x, weight, _, _, mean, invstd, train = args[:8]
            if not train:
                raise _NoRule
            per_channel = [1, x.shape[1]] + [1] * (x.ndim - 2)
            weight = None if weight is None else weight.reshape(per_channel)
            dims = (0, *range(2, x.ndim))
            return self._norm(out, g, x, mean.reshape(per_channel), invstd.reshape(per_channel), weight, dims, dims)
        raise _NoRule

    def _product(self, func, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """V of a matrix product func(a, b) (before its result's own rounding): func(W_a, b²) + func(a², W_b), the
        operand with more elements (as RandomRounding chooses it) rounded by ε√K. Where an
        operand carries no V and is in the gradients' dtype (a value the forward saved: W = k·x²), the two products
        are one: func(W_a + k_b·a², b²) (or the mirror), as the product is linear in each operand."""
        k, big = a.shape[-1], int(b.numel() > a.numel())
        k_a, k_b = (k, 1) if big == 0 else (1, k)
        if self.var.get(b) is None and self._plain(b):
            return func(_full(_total(self._wt(a, k=k_a), (self._square(a), k_b)), a), self._square(b))
        if self.var.get(a) is None and self._plain(a):
            return func(self._square(a), _full(_total(self._wt(b, k=k_b), (self._square(b), k_a)), b))
        return func(_full(self._w(a, k_a), a), self._square(b)) + func(self._square(a), _full(self._w(b, k_b), b))

    def _plain(self, x: torch.Tensor) -> bool:
        """x's own rounding is x² in units of ε² (the gradients' dtype, wider than 16 bits: no subnormal floor)."""
        return x.dtype.is_floating_point and torch.finfo(x.dtype).eps == self.eps and torch.finfo(x.dtype).bits > 16

    def _norm(self, out, g, x, mean, istd, weight, stat: tuple, across: tuple) -> tuple:
        """V of a normalisation's (dJ/dx, dJ/dweight, dJ/dbias), x̂ = (x - mean) · istd over the dimensions `stat`
        (N elements each), weight and bias broadcast over `across` (M elements each):
            dJ/dx = istd · (ĝ - A - x̂ · B),  ĝ = g · weight,  A = mean_stat(ĝ),  B = mean_stat(ĝ · x̂)
            dJ/dweight = Σ_across g · x̂,  dJ/dbias = Σ_across g
        each sum's summed operand rounded by ε√(its length), as a matmul's."""
        n = math.prod(x.shape[d] for d in stat)
        m = math.prod(x.shape[d] for d in across)
        g2, istd2 = _wide(g), _wide(istd)
        xhat = (_wide(x) - _wide(mean)) * istd2
        w_xhat = istd2**2 * (self._w(x) + self._w(mean)) + xhat**2 * self._w(istd)
        gamma = 1.0 if weight is None else _wide(weight)
        w_gamma = 0.0 if weight is None else self._w(weight)
        ghat = g2 * gamma
        w_ghat = _full(self._w(g), g) * gamma**2 + g2**2 * w_gamma
        summed = w_ghat + (n - 1) * self._own(g) * gamma**2  # the operand of A's and B's sums
        a = ghat.mean(stat, keepdim=True)
        b = (ghat * xhat).mean(stat, keepdim=True)
        v_a = summed.sum(stat, keepdim=True) / n**2
        v_b = (xhat**2 * summed + ghat**2 * w_xhat).sum(stat, keepdim=True) / n**2
        inner = ghat - a - xhat * b
        own = [self._own(o) if isinstance(o, torch.Tensor) else None for o in out]
        v_input = istd2**2 * (w_ghat + v_a + xhat**2 * v_b + b**2 * w_xhat) + inner**2 * self._w(istd) + own[0]
        w_g = _full(self._w(g, m), g)
        v_weight = (xhat**2 * w_g + g2**2 * w_xhat).sum(across) if own[1] is not None else None
        v_bias = w_g.sum(across) if own[2] is not None else None
        return (
            v_input,
            None if v_weight is None else v_weight.reshape(out[1].shape) + own[1],
            None if v_bias is None else v_bias.reshape(out[2].shape) + own[2],
        )


# d out / d x of elementwise functions of one operand, from x and out (a backward pass meets them where a forward's
# derivative is computed from its input: logsumexp's exp(x - lse), a norm's rsqrt)
_UNARY = {
    "exp": lambda x, out: out,
    "log": lambda x, out: 1 / x,
    "tanh": lambda x, out: 1 - out * out,
    "sigmoid": lambda x, out: out * (1 - out),
    "sqrt": lambda x, out: 0.5 / out,
    "rsqrt": lambda x, out: -0.5 * out**3,
    "reciprocal": lambda x, out: -out * out,
    "sin": lambda x, out: torch.cos(x),
    "cos": lambda x, out: -torch.sin(x),
    "erf": lambda x, out: 2 / math.sqrt(math.pi) * torch.exp(-x * x),
    "abs": lambda x, out: torch.sign(x),
    "sgn": lambda x, out: torch.zeros_like(x),  # piecewise constant: its rounding is its result's own (+ ε²·y²)
    "sign": lambda x, out: torch.zeros_like(x),
}

_CREATES = {"ones_like", "zeros_like", "empty_like", "new_zeros", "new_ones", "new_empty", "zeros", "ones", "empty",
            "full", "full_like", "new_full", "scalar_tensor", "lift_fresh"}  # fmt: skip


IN_PLACE = 1 << 15  # elements: from here a rule's sum is accumulated in place (below it, Python's cost is the time)


def _total(*terms) -> torch.Tensor | float:
    """The sum of terms, each a tensor, a number, a pair (x, c) for x·c or a triple (x, c, k) for k·x·c (x a tensor or
    a number, c a tensor or a number, k a number), or a list of such terms (_wt), broadcast. On tensors of IN_PLACE
    elements and more: one new tensor, made by the first product or sum that comes out whole, every other term added
    into it in place (add_, addcmul_), so that a rule's sum costs one allocation (a fresh tensor of 10^5 elements
    costs its page faults, more than the pass) instead of one per operation; below, operation by operation (the
    in-place path's shape and dtype bookkeeping, ~70 µs, would cost more than it saves). A term may be a cached
    tensor (an operand's own rounding): it is only read."""
    triples = [_triple(t) for term in terms for t in (term if isinstance(term, list) else [term])]
    tensors = [z for x, c, _ in triples for z in (x, c) if isinstance(z, torch.Tensor)]
    if not tensors:
        return sum(float(x) * float(c) * k for x, c, k in triples)
    if max(t.numel() for t in tensors) < IN_PLACE:
        out = None
        for x, c, k in triples:
            scale = c * k if not isinstance(c, torch.Tensor) else c if k == 1 else c * k
            term = x * scale if isinstance(scale, torch.Tensor) or scale != 1 else x
            out = term if out is None else out + term
        return out
    shape = torch.broadcast_shapes(*(t.shape for t in tensors))
    dtype = functools.reduce(torch.promote_types, (t.dtype for t in tensors))

    def whole(*parts) -> bool:
        return (
            torch.broadcast_shapes(*(p.shape for p in parts)) == shape
            and functools.reduce(torch.promote_types, (p.dtype for p in parts)) == dtype
        )

    out, number, rest = None, 0.0, []
    for x, c, k in triples:
        if not isinstance(x, torch.Tensor):
            number += float(x) * float(c) * k
        elif out is None and isinstance(c, torch.Tensor) and whole(x, c):
            out = x * c if k == 1 else torch.mul(x, c).mul_(k)
        else:
            rest.append((x, c, k))
    if out is None:  # no whole product: the first two plain terms of the full shape summed, else a copy
        plain = [i for i, (x, c, _) in enumerate(rest) if not isinstance(c, torch.Tensor)]
        if (
            len(plain) >= 2
            and rest[plain[0]][1] * rest[plain[0]][2] == 1
            and whole(rest[plain[0]][0], rest[plain[1]][0])
        ):
            (x1, _, _), (x2, c2, k2) = rest[plain[0]], rest[plain[1]]
            out = torch.add(x1, x2, alpha=c2 * k2)
            rest = [t for i, t in enumerate(rest) if i not in plain[:2]]
        if out is None:
            x, c, k = rest.pop(0)
            first = x * c * k if isinstance(c, torch.Tensor) else x * (c * k) if c * k != 1 else x
            if first is not x and first.shape == shape and first.dtype == dtype:
                out = first
            else:
                out = torch.empty(shape, dtype=dtype, device=x.device).copy_(first)
    for x, c, k in rest:
        if isinstance(c, torch.Tensor):
            out.addcmul_(x, c, value=k)
        elif c * k != 1:
            out.add_(x, alpha=c * k)
        else:
            out.add_(x)
    return out.add_(number) if number else out


def _triple(term) -> tuple:
    if not isinstance(term, tuple):
        term = (term, 1.0)
    x, c, *k = term
    if not isinstance(x, torch.Tensor) and isinstance(c, torch.Tensor):
        x, c = c, x  # (number, tensor): the tensor first
    return x, c, k[0] if k else 1.0


def _mutates(func) -> bool:
    return func._schema.is_mutable


def _full(w, like: torch.Tensor) -> torch.Tensor:
    """W as a tensor of like's shape (a float 0 where like is exact and carries nothing)."""
    if isinstance(w, torch.Tensor):
        return w.expand(like.shape) if w.shape != like.shape else w
    return torch.full(like.shape, float(w), dtype=_wide(like).dtype if like.is_floating_point() else torch.float32,
                      device=like.device)  # fmt: skip


def propagated_spread(loss: torch.Tensor, targets: list[torch.Tensor]) -> list[torch.Tensor] | None:
    """s = CONFIDENCE · ε · √V per element (in V's dtype, float32 or float64: compared exactly with float64 bounds,
    and no float64 copy made) of dJ/d(target) for each target, from one backward pass under
    PropagatedRounding (`loss` and `targets` in autograd's graph, kept: retain_graph); None where an operation of
    the backward has no rule (then the draws measure every name). A non-finite s is 0: that element is left to the
    draws. V is carried in float32 for float32 and the 16-bit dtypes, in units of ε²: below about 1e-19 a gradient's
    V underflows to 0, and such an element too is left to the draws."""
    dtype = loss.dtype
    mode = PropagatedRounding(dtype)
    with torch.enable_grad(), mode:
        grads = torch.autograd.grad(
            loss, targets, torch.ones_like(loss), retain_graph=True, allow_unused=True, materialize_grads=True
        )
    if mode.failed is not None:
        return None
    scale = CONFIDENCE * torch.finfo(dtype).eps
    spread = []
    for g in grads:
        v = mode.variance(g)
        if v is None:
            spread.append(torch.zeros(g.shape, dtype=_wide(g).dtype, device=g.device))
            continue
        # V >= 0 by construction; one new tensor of V's own shape (V may be shared by a view), finished in place
        s = torch.mul(v, scale**2).sqrt_().nan_to_num_(nan=0.0, posinf=0.0)
        spread.append(s.broadcast_to(g.shape))
    return spread
