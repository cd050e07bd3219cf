"""The backprop-ninja MLP with the fused backward (derivations/batchnorm.py, exercise 3 and 4), on its own name.

forward: batchnorm.forward_fused, which names emb, embcat, hprebn, hpreact, h, logits (J from torch's own ops)
backward: batchnorm.backward_fused
    dJ/dlogits = (softmax(logits) - onehot(Yb)) / n
    dJ/dhprebn = bngain bnvar_inv / n · (n dJ/dhpreact - sum_i dJ/dhpreact - n/(n-1) bnraw sum_i(dJ/dhpreact bnraw))
"""

from backprop_manual.derivations.batchnorm import LR, example
from backprop_manual.derivations.batchnorm import backward_fused as backward
from backprop_manual.derivations.batchnorm import forward_fused as forward

__all__ = ["LR", "backward", "example", "forward"]
