"""The derivations whose verification benchmarks/test_bench_verifier.py times: each a forward with named
intermediates, its backward by hand, and a point (params, inputs). Every backward is checked by verify_chain itself
before it is timed, so a wrong one fails the benchmark instead of timing a false verdict.

    chain(numel, names)        z1 = w·x, z_k = sin(z_{k-1}), J = sum(z_last · r): `names` named tensors (w and
                               names - 1 intermediates) of `numel` elements each, elementwise: the verifier's cost per
                               element and per name, with nothing else in the way
    layernorm_linear_gelu()    LayerNorm -> Linear -> GELU at [B, T, C] = [8, 128, 256] (a transformer block's MLP
                               entry), J = sum(out · r): 8 intermediates and 5 parameters, x among them
    batchnorm_mlp()            the "backprop ninja" exercise (karpathy/nn-zero-to-hero, makemore part 4) at its size:
                               embedding 27 x 10, 3 characters, 64 hidden with batch norm, tanh, 27 logits, batch 32,
                               cross-entropy written out step by step: 26 named gradients

Each upstream gradient r is random (never an all-ones `out.sum()`, which hides a wrong backward); the points are
benign (standard initialisation, seeded), where a correct derivation must pass.
"""

import math

import torch
import torch.nn.functional as F

LN_EPS = 1e-5
BN_EPS = 1e-5


def chain(numel: int, names: int, *, dtype=torch.float32, seed: int = 0):
    """(forward, backward, params, inputs) of the elementwise chain with `names` named tensors of `numel` each."""
    g = torch.Generator().manual_seed(seed)
    params = {"w": torch.randn(numel, generator=g, dtype=torch.float64).to(dtype)}
    x, r = (torch.randn(numel, generator=g, dtype=torch.float64).to(dtype) for _ in range(2))
    depth = names - 1  # intermediates z1 .. z_depth; w is the names-th

    def forward(w, x, r):
        z = {"z1": w * x}
        for k in range(2, depth + 1):
            z[f"z{k}"] = torch.sin(z[f"z{k - 1}"])
        return {**z, "loss": (z[f"z{depth}"] * r).sum()}

    def backward(fwd, w, x, r):
        d = {f"z{depth}": r}
        for k in range(depth, 1, -1):  # dJ/dz_{k-1} = dJ/dz_k · cos(z_{k-1})
            d[f"z{k - 1}"] = d[f"z{k}"] * torch.cos(fwd[f"z{k - 1}"])
        return {**d, "w": d["z1"] * x}

    return forward, backward, params, {"x": x, "r": r}


def layernorm_linear_gelu(B: int = 8, T: int = 128, C: int = 256, *, dtype=torch.float32, seed: int = 0):
    """(forward, backward, params, inputs): out = GELU(LayerNorm(x; gamma, beta) W^T + c), J = sum(out · r)."""
    g = torch.Generator().manual_seed(seed)

    def randn(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).to(dtype)

    params = {  # PyTorch's defaults: LayerNorm's gamma 1, beta 0, moved a little; Linear's U(-1/sqrt(C), 1/sqrt(C))
        "x": randn(B, T, C),
        "gamma": 1 + randn(C, scale=0.1),
        "beta": randn(C, scale=0.1),
        "W": ((torch.rand(C, C, generator=g, dtype=torch.float64) * 2 - 1) / math.sqrt(C)).to(dtype),
        "c": ((torch.rand(C, generator=g, dtype=torch.float64) * 2 - 1) / math.sqrt(C)).to(dtype),
    }
    inputs = {"r": randn(B, T, C)}

    def forward(x, gamma, beta, W, c, r):
        mean = x.mean(-1, keepdim=True)  # [B, T, 1]
        xc = x - mean
        var = (xc * xc).mean(-1, keepdim=True)  # biased, as LayerNorm's
        rstd = (var + LN_EPS).rsqrt()
        xhat = xc * rstd
        ln = xhat * gamma + beta  # [B, T, C]
        h = ln @ W.T + c
        out = F.gelu(h)  # exact: x Φ(x)
        return {
            "mean": mean,
            "xc": xc,
            "var": var,
            "rstd": rstd,
            "xhat": xhat,
            "ln": ln,
            "h": h,
            "out": out,
            "loss": (out * r).sum(),
        }

    def backward(fwd, x, gamma, beta, W, c, r):
        n = x.shape[-1]
        h, xc, rstd = fwd["h"], fwd["xc"], fwd["rstd"]
        d_h = r * (0.5 * (1 + torch.erf(h / math.sqrt(2))) + h * torch.exp(-0.5 * h * h) / math.sqrt(2 * math.pi))
        d_ln = d_h @ W
        d_xhat = d_ln * gamma
        d_rstd = (d_xhat * xc).sum(-1, keepdim=True)
        d_var = -0.5 * rstd**3 * d_rstd
        d_xc = d_xhat * rstd + d_var * 2 * xc / n
        d_mean = -d_xc.sum(-1, keepdim=True)
        return {
            "out": r,
            "h": d_h,
            "ln": d_ln,
            "xhat": d_xhat,
            "rstd": d_rstd,
            "var": d_var,
            "xc": d_xc,
            "mean": d_mean,
            "x": d_xc + d_mean / n,
            "gamma": (d_ln * fwd["xhat"]).sum((0, 1)),
            "beta": d_ln.sum((0, 1)),
            "W": d_h.reshape(-1, n).T @ fwd["ln"].reshape(-1, n),
            "c": d_h.sum((0, 1)),
        }

    return forward, backward, params, inputs


def batchnorm_mlp(n: int = 32, *, dtype=torch.float32, seed: int = 42):
    """(forward, backward, params, inputs) of the backprop-ninja network, its initialisation included."""
    vocab, n_embd, block, hidden = 27, 10, 3, 64
    g = torch.Generator().manual_seed(seed)

    def randn(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).to(dtype)

    params = {  # as the exercise initialises them (its small non-zero biases included, so no gradient is trivial)
        "C": randn(vocab, n_embd),
        "W1": randn(n_embd * block, hidden, scale=(5 / 3) / (n_embd * block) ** 0.5),
        "b1": randn(hidden, scale=0.1),
        "W2": randn(hidden, vocab, scale=0.1),
        "b2": randn(vocab, scale=0.1),
        "bngain": 1 + randn(1, hidden, scale=0.1),
        "bnbias": randn(1, hidden, scale=0.1),
    }
    inputs = {
        "Xb": torch.randint(0, vocab, (n, block), generator=g),
        "Yb": torch.randint(0, vocab, (n,), generator=g),
    }

    def forward(C, W1, b1, W2, b2, bngain, bnbias, Xb, Yb):
        emb = C[Xb]  # [n, 3, 10]
        embcat = emb.view(emb.shape[0], -1)
        hprebn = embcat @ W1 + b1
        bnmeani = hprebn.sum(0, keepdim=True) / n
        bndiff = hprebn - bnmeani
        bndiff2 = bndiff**2
        bnvar = bndiff2.sum(0, keepdim=True) / (n - 1)  # Bessel's correction, as the exercise
        bnvar_inv = (bnvar + BN_EPS) ** -0.5
        bnraw = bndiff * bnvar_inv
        hpreact = bngain * bnraw + bnbias
        h = torch.tanh(hpreact)
        logits = h @ W2 + b2
        logit_maxes = logits.max(1, keepdim=True).values
        norm_logits = logits - logit_maxes  # for numerical stability; its gradient is 0 in exact arithmetic
        counts = norm_logits.exp()
        counts_sum = counts.sum(1, keepdim=True)
        counts_sum_inv = counts_sum**-1
        probs = counts * counts_sum_inv
        logprobs = probs.log()
        loss = -logprobs[torch.arange(n), Yb].mean()
        named = (emb, embcat, hprebn, bnmeani, bndiff, bndiff2, bnvar, bnvar_inv, bnraw, hpreact, h, logits)
        named += (logit_maxes, norm_logits, counts, counts_sum, counts_sum_inv, probs, logprobs)
        return dict(zip(NINJA_NAMES, named, strict=True)) | {"loss": loss}

    def backward(fwd, C, W1, b1, W2, b2, bngain, bnbias, Xb, Yb):
        f = fwd
        d = {}
        d["logprobs"] = torch.zeros_like(f["logprobs"])
        d["logprobs"][torch.arange(n), Yb] = -1.0 / n
        d["probs"] = d["logprobs"] / f["probs"]
        d["counts_sum_inv"] = (f["counts"] * d["probs"]).sum(1, keepdim=True)
        d["counts_sum"] = -(f["counts_sum"] ** -2) * d["counts_sum_inv"]
        d["counts"] = f["counts_sum_inv"] * d["probs"] + d["counts_sum"]
        d["norm_logits"] = f["counts"] * d["counts"]
        d["logit_maxes"] = -d["norm_logits"].sum(1, keepdim=True)
        argmax = F.one_hot(f["logits"].max(1).indices, num_classes=f["logits"].shape[1]).to(dtype)
        d["logits"] = d["norm_logits"] + argmax * d["logit_maxes"]
        d["h"] = d["logits"] @ W2.T
        d["W2"], d["b2"] = f["h"].T @ d["logits"], d["logits"].sum(0)
        d["hpreact"] = (1 - f["h"] ** 2) * d["h"]
        d["bngain"] = (f["bnraw"] * d["hpreact"]).sum(0, keepdim=True)
        d["bnbias"] = d["hpreact"].sum(0, keepdim=True)
        d["bnraw"] = bngain * d["hpreact"]
        d["bnvar_inv"] = (f["bndiff"] * d["bnraw"]).sum(0, keepdim=True)
        d["bnvar"] = -0.5 * (f["bnvar"] + BN_EPS) ** -1.5 * d["bnvar_inv"]
        d["bndiff2"] = torch.ones_like(f["bndiff2"]) / (n - 1) * d["bnvar"]
        d["bndiff"] = f["bnvar_inv"] * d["bnraw"] + 2 * f["bndiff"] * d["bndiff2"]
        d["bnmeani"] = -d["bndiff"].sum(0, keepdim=True)
        d["hprebn"] = d["bndiff"] + d["bnmeani"] / n
        d["embcat"] = d["hprebn"] @ W1.T
        d["W1"], d["b1"] = f["embcat"].T @ d["hprebn"], d["hprebn"].sum(0)
        d["emb"] = d["embcat"].view(f["emb"].shape)
        d["C"] = torch.zeros_like(C).index_add_(0, Xb.reshape(-1), d["emb"].reshape(-1, C.shape[1]))
        return d

    return forward, backward, params, inputs


NINJA_NAMES = (
    "emb",
    "embcat",
    "hprebn",
    "bnmeani",
    "bndiff",
    "bndiff2",
    "bnvar",
    "bnvar_inv",
    "bnraw",
    "hpreact",
    "h",
    "logits",
    "logit_maxes",
    "norm_logits",
    "counts",
    "counts_sum",
    "counts_sum_inv",
    "probs",
    "logprobs",
)


def compared_work(forward, backward, params, inputs):
    """What verify_chain compares, done once: the forward with the parameters as leaves, autograd's gradient of
    every named tensor (intermediates and parameters) in one torch.autograd.grad, and one call of the backward."""
    leaves = {k: p.detach().requires_grad_(True) for k, p in params.items()}
    out = forward(**leaves, **inputs)
    named = [t for k, t in out.items() if k != "loss"]
    autograd = torch.autograd.grad(out["loss"], [*named, *leaves.values()])
    with torch.no_grad():
        manual = backward({k: t.detach() for k, t in out.items()}, **params, **inputs)
    return autograd, manual
