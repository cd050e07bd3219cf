"""GELU's tanh form with the fused backward, as llm.c's gelu_backward (derivations/gelu.py), on its own name.

forward: gelu.forward_fused, out = F.gelu(x, approximate="tanh"), J = sum out ∘ R
backward: gelu.backward_fused, dJ/dx = local(x) dJ/dout,
    local(x) = (1/2)(1 + t) + (1/2) x (1 - t^2) √(2/π)(1 + 3·0.044715 x^2),  t = tanh(√(2/π)(x + 0.044715 x^3))
"""

from backprop_manual.derivations.gelu import LR, example
from backprop_manual.derivations.gelu import backward_fused as backward
from backprop_manual.derivations.gelu import forward_fused as forward

__all__ = ["LR", "backward", "example", "forward"]
