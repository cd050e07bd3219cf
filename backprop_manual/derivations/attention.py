"""Causal multi-head self-attention (GPT-2's, llm.c's attention_forward between its two matmuls), two backwards.

forward (x [B, T, C] = [2, 8, 32], n_head 4, d = C/n_head = 8; R a fixed random projection, J = sum out ∘ R):
    qkv = x W_attn + b_attn   [B, T, 3C]          q, k, v = qkv split in three, each as [B, n_head, T, d]
    scores = q k^T / √d       [B, n_head, T, T]   masked = scores where t' <= t, else -inf (causal)
    lse = logsumexp_t'(masked)  [.., T, 1]        p = exp(masked - lse), the softmax, as flash attention keeps it
    y = p v                   [B, n_head, T, d]   yc = y with the heads side by side again [B, T, C]
    out = yc W_proj + b_proj                      J = sum out ∘ R
backward (plain: keeps p from the forward):
    dJ/dout = R   dJ/dW_proj = sum_bt yc^T dJ/dout   dJ/db_proj = sum_bt dJ/dout   dJ/dyc = dJ/dout W_proj^T
    dJ/dy = dJ/dyc, heads apart again (view, then transpose: the inverse of the forward's)
    dJ/dp = dJ/dy v^T          dJ/dv = p^T dJ/dy
    dJ/dlse = -sum_t' p dJ/dp  (= -rowsum(dJ/dy ∘ y), flash attention's D, from the output)
    dJ/dscores = p ∘ (dJ/dp + dJ/dlse)   0 where masked (p = 0 there): the softmax's Jacobian diag(p) - p p^T
    dJ/dq = dJ/dscores k / √d   dJ/dk = dJ/dscores^T q / √d   dJ/dqkv = [dJ/dq, dJ/dk, dJ/dv], heads merged
    dJ/dW_attn = sum_bt x^T dJ/dqkv   dJ/db_attn = sum_bt dJ/dqkv   dJ/dx = dJ/dqkv W_attn^T
flash-style (backward_flash): p recomputed from the scores and the rows' lse, p = exp(mask(scores) - lse), the
causal mask applied again (forget it and p is exp(scores - lse) above the diagonal: wrong dJ/dscores and dJ/dv);
dJ/dlse = -D, D = rowsum(dJ/dy ∘ y), without p.
x is a parameter, so dJ/dx is checked and training trains x too; CHECK_INPUTS (layernorm.py) would check dJ/dx
without training x.
"""

import torch

# J is linear in out, so unbounded below, and trilinear in x, W_attn, W_proj: gradient descent on it runs away in finite
# time. At 0.001, 20 steps move the parameters by 3 % (x) to 78 % (b_proj) while J goes from -31 to -918; at 0.005
# they overflow by step 16.
LR = 0.001
B, T, C, N_HEAD = 2, 8, 32, 4


def heads(t, n_head):
    """[B, T, C] -> [B, n_head, T, C/n_head]"""
    b, s, c = t.shape
    return t.view(b, s, n_head, c // n_head).transpose(1, 2)


def merge(t):
    """[B, n_head, T, d] -> [B, T, n_head·d], the inverse of heads"""
    b, h, s, d = t.shape
    return t.transpose(1, 2).reshape(b, s, h * d)


def causal(scores):
    """scores where t' <= t, -inf above the diagonal"""
    s = scores.shape[-1]
    keep = torch.ones(s, s, dtype=torch.bool, device=scores.device).tril()
    return scores.masked_fill(~keep, float("-inf"))


def attend(qkv, n_head):
    """q, k, v, scores, lse, p, y, yc from qkv [B, T, 3C]"""
    q, k, v = (heads(t, n_head) for t in qkv.split(qkv.shape[-1] // 3, dim=-1))
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
    masked = causal(scores)
    lse = torch.logsumexp(masked, dim=-1, keepdim=True)
    p = torch.exp(masked - lse)
    y = p @ v
    return {"q": q, "k": k, "v": v, "scores": scores, "lse": lse, "p": p, "y": y, "yc": merge(y)}


def attend_backward(d_yc, f, p, D):
    """From dJ/dyc down to dJ/dqkv, with the softmax p and D = sum_t' p dJ/dp as the caller has them"""
    q, k, v = f["q"], f["k"], f["v"]
    d_y = heads(d_yc, q.shape[1])
    d_p = d_y @ v.transpose(-2, -1)
    d_v = p.transpose(-2, -1) @ d_y
    d_lse = -D
    d_scores = p * (d_p + d_lse)
    d_q = d_scores @ k / q.shape[-1] ** 0.5
    d_k = d_scores.transpose(-2, -1) @ q / q.shape[-1] ** 0.5
    d_qkv = torch.cat([merge(d_q), merge(d_k), merge(d_v)], dim=-1)
    grads = {"yc": d_yc, "y": d_y, "p": d_p, "v": d_v, "lse": d_lse, "scores": d_scores, "q": d_q, "k": d_k}
    return grads | {"qkv": d_qkv}


def linear_backward(d_out, inp, W):
    """(dJ/dW, dJ/db, dJ/dinp) of out = inp W + b, inp [B, T, in]"""
    flat = d_out.reshape(-1, d_out.shape[-1])
    return inp.reshape(-1, inp.shape[-1]).T @ flat, flat.sum(0), d_out @ W.T


def forward(x, W_attn, b_attn, W_proj, b_proj, R):
    qkv = x @ W_attn + b_attn
    f = attend(qkv, N_HEAD)
    out = f["yc"] @ W_proj + b_proj
    return {"qkv": qkv, **f, "out": out, "loss": (out * R).sum()}


def backward(fwd, x, W_attn, b_attn, W_proj, b_proj, R):
    return _backward(fwd, x, W_attn, W_proj, R, flash=False)


def backward_flash(fwd, x, W_attn, b_attn, W_proj, b_proj, R):
    return _backward(fwd, x, W_attn, W_proj, R, flash=True)


def _backward(fwd, x, W_attn, W_proj, R, *, flash):
    d_out = R
    d_W_proj, d_b_proj, d_yc = linear_backward(d_out, fwd["yc"], W_proj)
    d_y = heads(d_yc, N_HEAD)
    if flash:  # p from the scores and the rows' lse, masked again; D from the output y, not from p
        p = torch.exp(causal(fwd["scores"]) - fwd["lse"])
        D = (d_y * fwd["y"]).sum(-1, keepdim=True)
    else:
        p = fwd["p"]
        D = (p * (d_y @ fwd["v"].transpose(-2, -1))).sum(-1, keepdim=True)
    g = attend_backward(d_yc, fwd, p, D)
    d_W_attn, d_b_attn, d_x = linear_backward(g["qkv"], x, W_attn)
    return {"out": d_out, "W_proj": d_W_proj, "b_proj": d_b_proj, **g, "W_attn": d_W_attn, "b_attn": d_b_attn} | {
        "x": d_x
    }


def example(dtype, device, *, seed=0):
    """x ~ N(0, 1) [2, 8, 32]; W ~ N(0, 1/fan_in), b ~ 0.1 N(0, 1); R ~ N(0, 1). The scores come out O(1): a softmax
    neither uniform nor peaked. Drawn in float64 from a seeded generator, then rounded to dtype."""
    g = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    params = {
        "x": randn(B, T, C),
        "W_attn": randn(C, 3 * C) / C**0.5,
        "b_attn": 0.1 * randn(3 * C),
        "W_proj": randn(C, C) / C**0.5,
        "b_proj": 0.1 * randn(C),
    }
    R = randn(B, T, C)
    return {k: v.to(dtype=dtype, device=device) for k, v in params.items()}, {"R": R.to(dtype=dtype, device=device)}
