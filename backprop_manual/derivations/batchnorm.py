"""The "backprop ninja" exercise (makemore part 4): an MLP with batch norm, cross-entropy written out, 26 gradients.

forward, every step named (n = 32 samples, block 3, vocabulary 27, n_embd 10, n_hidden 64):
    emb = C[Xb]  [n, 3, 10]          embcat = emb.view(n, 30)           hprebn = embcat W1 + b1  [n, 64]
    bnmeani = (1/n) sum_i hprebn     [1, 64]   bndiff = hprebn - bnmeani   bndiff2 = bndiff^2
    bnvar = 1/(n-1) sum_i bndiff2    [1, 64], Bessel's correction          bnvar_inv = (bnvar + 1e-5)^(-1/2)
    bnraw = bndiff bnvar_inv         hpreact = bngain bnraw + bnbias       h = tanh(hpreact)
    logits = h W2 + b2  [n, 27]      logit_maxes = max_c logits [n, 1]     norm_logits = logits - logit_maxes
    counts = exp(norm_logits)        counts_sum = sum_c counts [n, 1]      counts_sum_inv = 1/counts_sum
    probs = counts counts_sum_inv    logprobs = log(probs)                 J = -(1/n) sum_i logprobs[i, Yb_i]
backward, step by step (a [1, 64] or [n, 1] that was broadcast in the forward sums over the axis it spread along):
    dJ/dlogprobs = -onehot(Yb)/n     dJ/dprobs = dJ/dlogprobs / probs      dJ/dcounts_sum_inv = sum_c counts dJ/dprobs
    dJ/dcounts_sum = -dJ/dcounts_sum_inv / counts_sum^2
    dJ/dcounts = counts_sum_inv dJ/dprobs + dJ/dcounts_sum             (counts feeds probs and counts_sum: added)
    dJ/dnorm_logits = counts dJ/dcounts                                dJ/dlogit_maxes = -sum_c dJ/dnorm_logits
    dJ/dlogits = dJ/dnorm_logits + onehot(argmax) dJ/dlogit_maxes      (dJ/dlogit_maxes is 0 in exact arithmetic)
    dJ/dh = dJ/dlogits W2^T   dJ/dW2 = h^T dJ/dlogits   dJ/db2 = sum_i dJ/dlogits   dJ/dhpreact = (1 - h^2) dJ/dh
    dJ/dbngain = sum_i bnraw dJ/dhpreact [1, 64]   dJ/dbnbias = sum_i dJ/dhpreact   dJ/dbnraw = bngain dJ/dhpreact
    dJ/dbnvar_inv = sum_i bndiff dJ/dbnraw         dJ/dbnvar = -(1/2) (bnvar + 1e-5)^(-3/2) dJ/dbnvar_inv
    dJ/dbndiff2 = 1/(n-1) dJ/dbnvar (broadcast)    dJ/dbndiff = bnvar_inv dJ/dbnraw + 2 bndiff dJ/dbndiff2
    dJ/dbnmeani = -sum_i dJ/dbndiff                dJ/dhprebn = dJ/dbndiff + (1/n) dJ/dbnmeani
    dJ/dembcat = dJ/dhprebn W1^T   dJ/dW1 = embcat^T dJ/dhprebn   dJ/db1 = sum_i dJ/dhprebn (0: batch norm removes b1)
    dJ/demb = dJ/dembcat.view(n, 3, 10)            dJ/dC = sum over the (i, j) with Xb[i, j] = k of dJ/demb[i, j]
fused (forward_fused names only emb, embcat, hprebn, hpreact, h, logits; the same J from torch's own ops):
    dJ/dlogits = (softmax(logits) - onehot(Yb)) / n
    dJ/dhprebn = bngain bnvar_inv / n · (n dJ/dhpreact - sum_i dJ/dhpreact - n/(n-1) bnraw sum_i(dJ/dhpreact bnraw))
"""

import torch
import torch.nn.functional as F

LR = 0.1
EPS = 1e-5  # the exercise's, inside the square root
VOCAB, BLOCK, N_EMBD, N_HIDDEN, BATCH = 27, 3, 10, 64, 32


def forward(C, W1, b1, bngain, bnbias, W2, b2, Xb, Yb):
    n = Xb.shape[0]
    emb = C[Xb]  # [n, 3, 10]
    embcat = emb.view(n, -1)  # [n, 30]
    hprebn = embcat @ W1 + b1  # [n, 64]
    bnmeani = hprebn.sum(0, keepdim=True) / n  # [1, 64]
    bndiff = hprebn - bnmeani
    bndiff2 = bndiff**2
    bnvar = bndiff2.sum(0, keepdim=True) / (n - 1)  # Bessel's correction
    bnvar_inv = (bnvar + EPS) ** -0.5
    bnraw = bndiff * bnvar_inv
    hpreact = bngain * bnraw + bnbias
    h = torch.tanh(hpreact)
    logits = h @ W2 + b2  # [n, 27]
    logit_maxes = logits.max(1, keepdim=True).values  # [n, 1]
    norm_logits = logits - logit_maxes  # for numerical stability
    counts = norm_logits.exp()
    counts_sum = counts.sum(1, keepdim=True)  # [n, 1]
    counts_sum_inv = counts_sum**-1
    probs = counts * counts_sum_inv
    logprobs = probs.log()
    loss = -logprobs[torch.arange(n, device=Xb.device), Yb].mean()
    return dict(  # the names as the exercise spells them, as one table
        emb=emb, embcat=embcat, hprebn=hprebn, bnmeani=bnmeani, bndiff=bndiff, bndiff2=bndiff2, bnvar=bnvar,
        bnvar_inv=bnvar_inv, bnraw=bnraw, hpreact=hpreact, h=h, logits=logits, logit_maxes=logit_maxes,
        norm_logits=norm_logits, counts=counts, counts_sum=counts_sum, counts_sum_inv=counts_sum_inv, probs=probs,
        logprobs=logprobs, loss=loss,
    )  # fmt: skip


def backward(fwd, C, W1, b1, bngain, bnbias, W2, b2, Xb, Yb):
    f = fwd
    n = Xb.shape[0]
    d_logprobs = -F.one_hot(Yb, VOCAB).to(C) / n
    d_probs = d_logprobs / f["probs"]
    d_counts_sum_inv = (f["counts"] * d_probs).sum(1, keepdim=True)
    d_counts_sum = -d_counts_sum_inv / f["counts_sum"] ** 2
    d_counts = f["counts_sum_inv"] * d_probs + d_counts_sum  # both uses of counts, added
    d_norm_logits = f["counts"] * d_counts
    d_logit_maxes = -d_norm_logits.sum(1, keepdim=True)
    d_logits = d_norm_logits + F.one_hot(f["logits"].max(1).indices, VOCAB).to(C) * d_logit_maxes
    d_h = d_logits @ W2.T
    d_hpreact = (1 - f["h"] ** 2) * d_h
    d_bnraw = bngain * d_hpreact
    d_bnvar_inv = (f["bndiff"] * d_bnraw).sum(0, keepdim=True)
    d_bnvar = -0.5 * (f["bnvar"] + EPS) ** -1.5 * d_bnvar_inv
    d_bndiff2 = torch.ones_like(f["bndiff2"]) * d_bnvar / (n - 1)
    d_bndiff = f["bnvar_inv"] * d_bnraw + 2 * f["bndiff"] * d_bndiff2
    d_bnmeani = -d_bndiff.sum(0, keepdim=True)
    d_hprebn = d_bndiff + d_bnmeani / n
    return {
        **lower(d_hprebn, f, C, W1, Xb),
        "logprobs": d_logprobs,
        "probs": d_probs,
        "counts_sum_inv": d_counts_sum_inv,
        "counts_sum": d_counts_sum,
        "counts": d_counts,
        "norm_logits": d_norm_logits,
        "logit_maxes": d_logit_maxes,
        **upper(d_logits, d_hpreact, f, W2),
        "bnraw": d_bnraw,
        "bnvar_inv": d_bnvar_inv,
        "bnvar": d_bnvar,
        "bndiff2": d_bndiff2,
        "bndiff": d_bndiff,
        "bnmeani": d_bnmeani,
    }


def upper(d_logits, d_hpreact, f, W2):
    """dJ/dlogits down to dJ/dhpreact's parameters: the output layer, tanh, the batch norm's gain and bias."""
    return {
        "logits": d_logits,
        "h": d_logits @ W2.T,
        "W2": f["h"].T @ d_logits,
        "b2": d_logits.sum(0),
        "hpreact": d_hpreact,
        "bngain": (f["bnraw"] * d_hpreact).sum(0, keepdim=True),
        "bnbias": d_hpreact.sum(0, keepdim=True),
    }


def lower(d_hprebn, f, C, W1, Xb):
    """dJ/dhprebn down to the embedding table: the first linear layer, the view, the lookup C[Xb]."""
    d_embcat = d_hprebn @ W1.T
    d_emb = d_embcat.view(f["emb"].shape)
    d_C = torch.zeros_like(C).index_add_(0, Xb.reshape(-1), d_emb.reshape(-1, C.shape[1]))  # repeated rows add
    W1_grad = f["embcat"].T @ d_hprebn
    return {"hprebn": d_hprebn, "embcat": d_embcat, "W1": W1_grad, "b1": d_hprebn.sum(0), "emb": d_emb, "C": d_C}


def forward_fused(C, W1, b1, bngain, bnbias, W2, b2, Xb, Yb):
    """The same J from torch's own ops: batch norm with the unbiased variance in one line, F.cross_entropy."""
    emb = C[Xb]
    embcat = emb.view(Xb.shape[0], -1)
    hprebn = embcat @ W1 + b1
    var, mean = torch.var_mean(hprebn, dim=0, keepdim=True, correction=1)
    hpreact = bngain * (hprebn - mean) / torch.sqrt(var + EPS) + bnbias
    h = torch.tanh(hpreact)
    logits = h @ W2 + b2
    return {"emb": emb, "embcat": embcat, "hprebn": hprebn, "hpreact": hpreact, "h": h, "logits": logits} | {
        "loss": F.cross_entropy(logits, Yb)
    }


def backward_fused(fwd, C, W1, b1, bngain, bnbias, W2, b2, Xb, Yb):
    """dJ/dlogits = (softmax - onehot)/n; dJ/dhprebn = gain·bnvar_inv/n·(n·dh - Σdh - n/(n-1)·bnraw·Σ(dh·bnraw))"""
    f = fwd
    n = Xb.shape[0]
    d_logits = (torch.softmax(f["logits"], 1) - F.one_hot(Yb, VOCAB).to(C)) / n
    d_hpreact = (1 - f["h"] ** 2) * (d_logits @ W2.T)
    var, mean = torch.var_mean(f["hprebn"], dim=0, keepdim=True, correction=1)
    bnvar_inv = (var + EPS) ** -0.5
    bnraw = (f["hprebn"] - mean) * bnvar_inv
    d_hprebn = (
        bngain * bnvar_inv / n * (n * d_hpreact - d_hpreact.sum(0) - n / (n - 1) * bnraw * (d_hpreact * bnraw).sum(0))
    )
    return upper(d_logits, d_hpreact, f | {"bnraw": bnraw}, W2) | lower(d_hprebn, f, C, W1, Xb)


def example(dtype, device, *, seed=42):
    """Random tokens (no data set: the gradients do not care what the words are) and the exercise's initialisation:
    C ~ N(0, 1), W1 ~ N(0, 1)·(5/3)/√30 (tanh's gain), b1, W2, b2 ~ N(0, 1)·0.1 (the exercise keeps them off 0 so that
    a wrong gradient cannot hide), bngain ~ 1 + N(0, 1)·0.1, bnbias ~ N(0, 1)·0.1. Drawn in float64 from a seeded
    generator, then rounded to dtype, so that both dtypes see the same point."""
    g = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    d = N_EMBD * BLOCK
    params = {
        "C": randn(VOCAB, N_EMBD),
        "W1": randn(d, N_HIDDEN) * (5 / 3) / d**0.5,
        "b1": randn(N_HIDDEN) * 0.1,
        "bngain": 1 + randn(1, N_HIDDEN) * 0.1,
        "bnbias": randn(1, N_HIDDEN) * 0.1,
        "W2": randn(N_HIDDEN, VOCAB) * 0.1,
        "b2": randn(VOCAB) * 0.1,
    }
    Xb = torch.randint(0, VOCAB, (BATCH, BLOCK), generator=g).to(device)
    Yb = torch.randint(0, VOCAB, (BATCH,), generator=g).to(device)
    return {k: v.to(dtype=dtype, device=device) for k, v in params.items()}, {"Xb": Xb, "Yb": Yb}
