"""Token and position embedding, and softmax cross-entropy over a vocabulary through the tied head (GPT-2's wte).

forward (idx, targets [B, T] = [4, 8] token ids in a vocabulary of V = 64; wte [V, C], wpe [T, C], C = 16):
    tok = wte[idx]        [B, T, C]        x = tok + wpe (broadcast over the batch)
    logits = x wte^T      [B, T, V], the head tied to the embedding, as GPT-2's
    J = (1/(B·T)) sum_bt -log softmax(logits)[b, t, targets_bt]   (F.cross_entropy: log-sum-exp, stable)
backward:
    dJ/dlogits = (softmax(logits) - onehot(targets)) / (B·T)
    dJ/dx      = dJ/dlogits wte                  dJ/dtok = dJ/dx          dJ/dwpe = sum_b dJ/dx   [T, C]
    dJ/dwte    = sum_bt dJ/dlogits^T x  (the head)  +  sum over the (b, t) with idx_bt = v of dJ/dtok_bt (the lookup)
                 wte is used twice: the two gradients add; a token seen twice adds twice (index_add, not assignment)
"""

import torch
import torch.nn.functional as F

LR = 0.5
V, B, T, C = 64, 4, 8, 16


def forward(wte, wpe, idx, targets):
    tok = wte[idx]
    x = tok + wpe
    logits = x @ wte.T
    return {"tok": tok, "x": x, "logits": logits, "loss": F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))}


def backward(fwd, wte, wpe, idx, targets):
    logits, x = fwd["logits"], fwd["x"]
    d_logits = (torch.softmax(logits, -1) - F.one_hot(targets, V).to(logits)) / targets.numel()
    d_x = d_logits @ wte
    head = d_logits.reshape(-1, V).T @ x.reshape(-1, C)  # [V, C]
    d_wte = head.index_add(0, idx.reshape(-1), d_x.reshape(-1, C))  # the lookup's, added to the head's
    return {"logits": d_logits, "x": d_x, "wpe": d_x.sum(0), "tok": d_x, "wte": d_wte}


def example(dtype, device, *, seed=0):
    """wte, wpe ~ N(0, 0.5^2): the logits then have a spread of ~1.4 (std √(2C)·0.25), a softmax neither uniform nor
    peaked (GPT-2's 0.02 at C = 768 aims at the same). Token ids and targets uniform over V, seeded: with 32 positions
    and 64 ids, some ids recur, as they do in text. Drawn in float64 from a seeded generator, rounded to dtype."""
    g = torch.Generator().manual_seed(seed)
    wte, wpe = (
        0.5 * torch.randn(V, C, generator=g, dtype=torch.float64),
        0.5 * torch.randn(T, C, generator=g, dtype=torch.float64),
    )
    idx = torch.randint(0, V, (B, T), generator=g)
    targets = torch.randint(0, V, (B, T), generator=g)
    params = {"wte": wte.to(dtype=dtype, device=device), "wpe": wpe.to(dtype=dtype, device=device)}
    return params, {"idx": idx.to(device), "targets": targets.to(device)}
