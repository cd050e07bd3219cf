"""The rounding floor of a gradient that cancels: how much noise the magnitudes flowing into it explain.

A gradient that is zero in exact arithmetic (a bias that feeds a normalization, a shift that softmax cancels) is a
sum of terms that cancel; in floating point it is rounding noise, ~eps·(their size), and any element-wise relative
or ULP criterion fails on it. So the allowance grows with what flows in, not with the result. Two floors, each only
the size beyond the element's own |dJ/dt_i| (which the ULP budget already covers), so that one element alone (the
neuron's per-sample scalars) gets none:

    norm-wise:     FLOOR_ULPS · eps · max(0, max_j |dJ/dt_j| - |dJ/dt_i|)
    cancellation:  FLOOR_ULPS · eps · max(0, sqrt(m_t) · S_t - |dJ/dt_i|)
    S_t = max over t's elements of sqrt( E_r[ (sum_c J_{c,t}^T (dJ/dc ∘ r_c))^2 ] )    the terms' size, l2
    m_t = max(1, sum_c numel(c) / numel(t))      terms per element where t is summed into c (a bias: the batch)

(per sample in per-sample mode). c runs over the names that consume t directly (check/graph.py), J_{c,t} is the
Jacobian of c in t and r_c are random signs: E_r[(J^T (g∘r))_i^2] = sum_k J_ki^2 g_k^2, estimated with SIGNS
draws (cyclic shifts of one draw, each still iid signs). Two sums of the same m terms in different orders differ
by up to ~sqrt(m)·eps·||terms||_2 (a random walk of m roundings), hence sqrt(m_t). A row is given the norm-wise
floor only if it fails without it, and the cancellation floor (a batched vector-Jacobian product) only if it
still fails. Measurements: docs/your-own-derivation.md and tests/check/test_floor.py.
"""

import torch

SIGNS = 8  # draws of r: with max over elements, enough to bound the noise (tests/check/test_floor.py)
# Why 8: the worst |manual - autograd| / floor measured on the two-layer test network (tests/check/test_floor.py:
# 5 sizes up to N = 8192, H = 256, 6 seeds, both dtypes) is about 1/3 of it; an element alone gets no floor, so a
# relative error of 1e-6 in float32 (8.4 eps) on the neuron's per-sample scalars is still caught by the ULP budget.
FLOOR_ULPS = 8.0


def cancellation_scale(
    t: torch.Tensor, fed: list[tuple[torch.Tensor, torch.Tensor]], *, per_sample: bool = False
) -> torch.Tensor:
    """sqrt(m_t)·S_t (see above) from t's consumers `fed` = [(c, dJ/dc)], in t's graph; shape [] or [N, 1...]"""
    if not fed:
        return torch.zeros((), dtype=torch.float64, device=t.device)
    gen = torch.Generator(device=t.device).manual_seed(0)
    signs = []
    for _, g in fed:  # one draw of random signs per consumer, and SIGNS shifts of it: as random, far cheaper
        r = torch.randint(0, 2, (g.numel(),), generator=gen, device=g.device, dtype=torch.int8).to(g.dtype) * 2 - 1
        signs.append(torch.stack([r.roll(k * 7919).reshape(g.shape) for k in range(SIGNS)]))
    (v,) = torch.autograd.grad(  # all the draws at once (vmap over the leading dimension of the cotangents)
        [c for c, _ in fed],
        [t],
        [g * r for (_, g), r in zip(fed, signs, strict=True)],
        retain_graph=True,
        allow_unused=True,
        materialize_grads=True,
        is_grads_batched=True,
    )
    total = (v.detach().to(torch.float64) ** 2).sum(0)
    terms = max(1.0, sum(c.numel() for c, _ in fed) / max(t.numel(), 1))
    return largest((total / SIGNS).sqrt() * terms**0.5, per_sample)


def largest(t: torch.Tensor, per_sample: bool) -> torch.Tensor:
    """max |t| over the tensor, or over each sample's elements: shape [] or [N, 1...]"""
    a = t.detach().abs().to(torch.float64)
    if per_sample and a.ndim:
        return a.reshape(a.shape[0], -1).amax(dim=1).reshape(a.shape[0], *([1] * (a.ndim - 1)))
    return a.amax() if a.numel() else a.new_zeros(())


def normwise_floor(autograd: torch.Tensor, per_sample: bool = False) -> torch.Tensor:
    """FLOOR_ULPS · eps · (max|dJ/dt| - |dJ/dt_i|): rounding relative to the tensor's largest element"""
    return excess(largest(autograd, per_sample), autograd)


def rounding_floor(scale: torch.Tensor, autograd: torch.Tensor) -> torch.Tensor:
    """FLOOR_ULPS · eps(dtype) · (sqrt(m_t)·S_t - |dJ/dt_i|)"""
    return excess(scale, autograd)


def excess(scale: torch.Tensor, autograd: torch.Tensor) -> torch.Tensor:
    """FLOOR_ULPS · eps · max(0, scale - |autograd_i|): only the size beyond the element's own, which the ULP budget
    already covers; so one element alone (the neuron's per-sample scalars) gets no floor at all."""
    a = autograd.detach().abs().to(torch.float64)
    return FLOOR_ULPS * torch.finfo(autograd.dtype).eps * (scale - a).clamp(min=0)
