"""Causal self-attention with the flash-style backward (derivations/attention.py), on its own name.

forward: attention.forward (q, k, v, scores, lse, p, y, yc named)
backward: attention.backward_flash: p recomputed as exp(mask(scores) - lse), the causal mask applied again;
    dJ/dlse = -D, D = rowsum(dJ/dy ∘ y)        dJ/dscores = p ∘ (dJ/dp - D)        dJ/dv = p^T dJ/dy
"""

from backprop_manual.derivations.attention import LR, example, forward
from backprop_manual.derivations.attention import backward_flash as backward

__all__ = ["LR", "backward", "example", "forward"]
