"""The stress battery's cases: correct hand-written derivations at ill-conditioned points, in the verify_chain contract.

Each case is a function case(dtype, device, seed) -> (forward, backward, params, inputs):
    forward(**params, **inputs) -> {name: intermediate, ..., "loss": J}   J a scalar, a real loss or a random projection
    backward(fwd, **params, **inputs) -> {name: dJ/d(name), ...}            by hand, every intermediate and parameter
Every value is drawn from a generator seeded with `seed`, in float64, then rounded to `dtype` (so every dtype sees the
same point, up to its own rounding); every new tensor inside a forward or backward takes the inputs' dtype and device.
No backward is an out.sum() with all-ones cotangents: each J is a mean loss or a projection on a random direction.

The categories (CASES lists them, each with the intermediates its planted errors go to):
    attention   peaky single-head causal self-attention, [B, T, C, d] = [4, 32, 64, 16], Wq and Wk scaled x2 or x4:
                max |scores| about 20 (x2) to 60-80 (x4), near one-hot softmax rows
    xent        softmax cross-entropy at saturation: the output weights scaled x30 and x100 (max |logits| about 70 and
                230), half the labels the argmax (p - onehot ~ e^-50), half not (-log p ~ 100)
    norm        LayerNorm and BatchNorm with a spread of 1e-3 and 1e-4 (variance 1e-6 and 1e-8 against eps 1e-5), the
                centring written out op by op, or torch's fused op with the closed-form backward of a kernel
    relu        ReLU kinks: every value a small multiple of a power of two, so z is exactly 0 at many elements in every
                dtype (autograd's relu'(0) = 0, as z > 0 by hand)
    long        long reductions over N = 100,000 samples, a mean loss (J finite in float16); a least-squares fit at its
                optimum, where dJ/dW is 0 in exact arithmetic
    zero        gradients zero in exact arithmetic: a bias feeding a BatchNorm, a per-sample shift that softmax cancels
The mathematics is written for exactness, not tuned to any tolerance; the 16-bit statistics of the fused norms are
computed in float32, as torch's own kernels and any hand-written kernel do (opmath), and cast back.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

DTYPES = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
EPS = 1e-5  # the norms' eps, torch's default


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def normal(g: torch.Generator, *shape: int, scale: float = 1.0, mean: float = 0.0) -> torch.Tensor:
    """N(mean, scale^2) drawn in float64 (rounded to the case's dtype by `rounded`)."""
    return mean + scale * torch.randn(*shape, generator=g, dtype=torch.float64)


def grid(g: torch.Generator, *shape: int, step: float, levels: int = 2) -> torch.Tensor:
    """Multiples of `step` (a power of two) in [-levels, levels] * step: exact in every dtype, so are their sums."""
    return step * torch.randint(-levels, levels + 1, shape, generator=g).to(torch.float64)


def rounded(tensors: dict, dtype: torch.dtype, device) -> dict:
    """Floating tensors rounded to `dtype` on `device`; integer ones (labels) moved only."""
    return {
        k: t.to(device=device, dtype=dtype) if t.is_floating_point() else t.to(device=device)
        for k, t in tensors.items()
    }


def opmath(t: torch.Tensor) -> torch.dtype:
    """The dtype a kernel computes statistics in: float32 for the 16-bit types, else the tensor's own."""
    return torch.promote_types(t.dtype, torch.float32)


# ---------------------------------------------------------------------------------------------------------------------
# (a) peaky causal self-attention

B, T, C, D = 4, 32, 64, 16


def causal(scores: torch.Tensor) -> torch.Tensor:
    """True above the diagonal: the future, masked out."""
    t = scores.shape[-1]
    return torch.ones(t, t, dtype=torch.bool, device=scores.device).triu(1)


def attention_forward(Wq, Wk, Wv, Wo, x, R):
    """q, k, v = x W;  scores = q k^T / sqrt(d);  masked: -inf above the diagonal;  att = softmax(masked);
    y = att v;  out = y Wo;  J = sum(out ∘ R), R a random direction (the cotangent of out)"""
    q, k, v = x @ Wq, x @ Wk, x @ Wv  # [B, T, d]
    qk = q @ k.transpose(-2, -1)  # [B, T, T]
    scores = qk / math.sqrt(q.shape[-1])
    masked = scores.masked_fill(causal(scores), float("-inf"))
    att = torch.softmax(masked, dim=-1)
    y = att @ v  # [B, T, d]
    out = y @ Wo  # [B, T, C]
    names = {"q": q, "k": k, "v": v, "qk": qk, "scores": scores, "masked": masked, "att": att, "y": y, "out": out}
    return names | {"loss": (out * R).sum()}


def flat_t(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """sum over the batch and time of a^T b: [B, T, m], [B, T, n] -> [m, n] (a weight's gradient)"""
    return a.reshape(-1, a.shape[-1]).T @ b.reshape(-1, b.shape[-1])


def attention_backward(fwd, Wq, Wk, Wv, Wo, x, R):
    """dJ/dout = R;  dJ/dy = dJ/dout Wo^T;  dJ/datt = dJ/dy v^T;  dJ/dv = att^T dJ/dy;
    dJ/dmasked = att ∘ (dJ/datt - sum_j att ∘ dJ/datt)  (softmax's Jacobian, row by row);
    dJ/dscores = dJ/dmasked, 0 where masked;  dJ/dqk = dJ/dscores / sqrt(d);  dJ/dq = dJ/dqk k;  dJ/dk = dJ/dqk^T q;
    dJ/dW = x^T dJ/d(its output), summed over batch and time"""
    q, k, v, att, y = fwd["q"], fwd["k"], fwd["v"], fwd["att"], fwd["y"]
    d_out = R
    d_y = d_out @ Wo.T
    d_att = d_y @ v.transpose(-2, -1)
    d_v = att.transpose(-2, -1) @ d_y
    d_masked = att * (d_att - (att * d_att).sum(-1, keepdim=True))
    d_scores = d_masked.masked_fill(causal(d_masked), 0.0)
    d_qk = d_scores / math.sqrt(q.shape[-1])
    d_q = d_qk @ k
    d_k = d_qk.transpose(-2, -1) @ q
    return {
        "out": d_out,
        "Wo": flat_t(y, d_out),
        "y": d_y,
        "att": d_att,
        "v": d_v,
        "masked": d_masked,
        "scores": d_scores,
        "qk": d_qk,
        "q": d_q,
        "k": d_k,
        "Wq": flat_t(x, d_q),
        "Wk": flat_t(x, d_k),
        "Wv": flat_t(x, d_v),
    }


def attention(scale: float) -> Callable:
    def case(dtype, device, seed):
        """Standard initialisation N(0, 1/fan_in), Wq and Wk times `scale`: a peaky softmax."""
        g = generator(seed)
        params = {
            "Wq": normal(g, C, D, scale=scale / math.sqrt(C)),
            "Wk": normal(g, C, D, scale=scale / math.sqrt(C)),
            "Wv": normal(g, C, D, scale=1 / math.sqrt(C)),
            "Wo": normal(g, D, C, scale=1 / math.sqrt(D)),
        }
        inputs = {"x": normal(g, B, T, C), "R": normal(g, B, T, C, scale=1 / math.sqrt(B * T * C))}
        return attention_forward, attention_backward, rounded(params, dtype, device), rounded(inputs, dtype, device)

    case.__name__ = f"attention_x{scale:g}"
    return case


# ---------------------------------------------------------------------------------------------------------------------
# (b) softmax cross-entropy at saturation

XN, XD, XH, XK = 256, 16, 32, 10


def xent_forward(W1, b1, W2, b2, X, y):
    """z = X W1 + b1;  h = tanh(z);  logits = h W2 + b2;  logp = log_softmax(logits);  J = mean_n -logp[n, y_n]"""
    z = X @ W1 + b1
    h = torch.tanh(z)
    logits = h @ W2 + b2
    logp = torch.log_softmax(logits, dim=1)
    return {"z": z, "h": h, "logits": logits, "logp": logp, "loss": F.nll_loss(logp, y)}


def xent_backward(fwd, W1, b1, W2, b2, X, y):
    """dJ/dlogp = -onehot(y)/N;  dJ/dlogits = (softmax(logits) - onehot(y)) / N  (the textbook fused form: the
    log_softmax Jacobian applied to dJ/dlogp, with sum_k onehot_k = 1);  dJ/dW2 = h^T dJ/dlogits;
    dJ/db2 = sum_n dJ/dlogits;  dJ/dh = dJ/dlogits W2^T;  dJ/dz = (1 - h^2) ∘ dJ/dh;  dJ/dW1 = X^T dJ/dz;
    dJ/db1 = sum_n dJ/dz"""
    h, logits = fwd["h"], fwd["logits"]
    onehot = F.one_hot(y, logits.shape[1]).to(logits.dtype)
    d_logits = (torch.softmax(logits, dim=1) - onehot) / X.shape[0]
    d_h = d_logits @ W2.T
    d_z = (1 - h * h) * d_h
    return {
        "logp": -onehot / X.shape[0],
        "logits": d_logits,
        "W2": h.T @ d_logits,
        "b2": d_logits.sum(0),
        "h": d_h,
        "z": d_z,
        "W1": X.T @ d_z,
        "b1": d_z.sum(0),
    }


def xent(scale: float) -> Callable:
    def case(dtype, device, seed):
        """Logits of scale `scale`; half the labels the float64 argmax (saturated right), half random (wrong)."""
        g = generator(seed)
        params = {
            "W1": normal(g, XD, XH, scale=1 / math.sqrt(XD)),
            "b1": normal(g, XH, scale=0.1),
            "W2": normal(g, XH, XK, scale=scale / math.sqrt(XH)),
            "b2": normal(g, XK),
        }
        X = normal(g, XN, XD)
        logits = torch.tanh(X @ params["W1"] + params["b1"]) @ params["W2"] + params["b2"]
        right = torch.rand(XN, generator=g, dtype=torch.float64) < 0.5
        y = torch.where(right, logits.argmax(1), torch.randint(0, XK, (XN,), generator=g))
        return xent_forward, xent_backward, rounded(params, dtype, device), rounded({"X": X, "y": y}, dtype, device)

    case.__name__ = f"xent_x{scale:g}"
    return case


# ---------------------------------------------------------------------------------------------------------------------
# (c) LayerNorm and BatchNorm with a variance near eps, then a linear layer and a mean squared error

NN, NC, NO = 64, 32, 8


def mse_backward(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """d/dout mean((out - target)^2) = 2 (out - target) / numel"""
    return 2 * (out - target) / out.numel()


def norm_forward(dim: int) -> Callable:
    def forward(x, gamma, beta, W, b, target):
        """mu = mean(x);  xc = x - mu;  var = mean(xc^2);  std = sqrt(var + eps);  xhat = xc / std;
        n = gamma xhat + beta;  out = n W + b;  J = mean((out - target)^2)   (statistics along `dim`)"""
        mu = x.mean(dim, keepdim=True)
        xc = x - mu
        var = (xc * xc).mean(dim, keepdim=True)
        std = torch.sqrt(var + EPS)
        xhat = xc / std
        n = xhat * gamma + beta
        out = n @ W + b
        names = {"mu": mu, "xc": xc, "var": var, "std": std, "xhat": xhat, "n": n, "out": out}
        return names | {"loss": ((out - target) ** 2).mean()}

    return forward


def norm_backward(dim: int) -> Callable:
    def backward(fwd, x, gamma, beta, W, b, target):
        """dJ/dout = 2 (out - target)/numel;  dJ/dn = dJ/dout W^T;  dJ/dxhat = gamma ∘ dJ/dn;
        dJ/dstd = -sum(dJ/dxhat ∘ xhat) / std;  dJ/dvar = dJ/dstd / (2 std);
        dJ/dxc = dJ/dxhat / std + dJ/dvar 2 xc / m;  dJ/dmu = -sum dJ/dxc;  dJ/dx = dJ/dxc + dJ/dmu / m
        (sums and m, the count, along `dim`)"""
        xc, std, xhat, n, out = fwd["xc"], fwd["std"], fwd["xhat"], fwd["n"], fwd["out"]
        m = x.shape[dim]
        d_out = mse_backward(out, target)
        d_n = d_out @ W.T
        d_xhat = d_n * gamma
        d_std = -(d_xhat * xhat).sum(dim, keepdim=True) / std
        d_var = d_std / (2 * std)
        d_xc = d_xhat / std + d_var * 2 * xc / m
        d_mu = -d_xc.sum(dim, keepdim=True)
        return {
            "out": d_out,
            "W": n.T @ d_out,
            "b": d_out.sum(0),
            "n": d_n,
            "gamma": (d_n * xhat).sum(0),  # gamma and beta are per feature, [C], for LayerNorm and BatchNorm alike
            "beta": d_n.sum(0),
            "xhat": d_xhat,
            "std": d_std,
            "var": d_var,
            "xc": d_xc,
            "mu": d_mu,
            "x": d_xc + d_mu / m,
        }

    return backward


def fused_norm_forward(kind: str) -> Callable:
    def forward(x, gamma, beta, W, b, target):
        """n = F.layer_norm or F.batch_norm(training) of x, with gamma and beta;  out = n W + b;
        J = mean((out - target)^2)"""
        if kind == "layernorm":
            n = F.layer_norm(x, x.shape[-1:], gamma, beta, EPS)
        else:
            n = F.batch_norm(x, None, None, gamma, beta, training=True, eps=EPS)
        out = n @ W + b
        return {"n": n, "out": out, "loss": ((out - target) ** 2).mean()}

    return forward


def fused_norm_backward(kind: str) -> Callable:
    dim = -1 if kind == "layernorm" else 0

    def backward(fwd, x, gamma, beta, W, b, target):
        """A kernel's closed form, statistics recomputed from x in opmath (float32 for 16-bit types):
        xhat = (x - mean x) rstd,  rstd = 1/sqrt(var x + eps);  g = gamma ∘ dJ/dn;
        dJ/dx = rstd (g - mean g - xhat mean(g ∘ xhat));  dJ/dgamma = sum dJ/dn ∘ xhat;  dJ/dbeta = sum dJ/dn"""
        n, out = fwd["n"], fwd["out"]
        d_out = mse_backward(out, target)
        d_n = d_out @ W.T
        wide = opmath(x)
        xw = x.to(wide)
        mu = xw.mean(dim, keepdim=True)
        rstd = torch.rsqrt(((xw - mu) ** 2).mean(dim, keepdim=True) + EPS)
        xhat = (xw - mu) * rstd
        gw = d_n.to(wide) * gamma.to(wide)
        d_x = rstd * (gw - gw.mean(dim, keepdim=True) - xhat * (gw * xhat).mean(dim, keepdim=True))
        return {
            "out": d_out,
            "W": n.T @ d_out,
            "b": d_out.sum(0),
            "n": d_n,
            "gamma": (d_n.to(wide) * xhat).sum(0).to(x.dtype),
            "beta": d_n.sum(0),
            "x": d_x.to(x.dtype),
        }

    return backward


def norm(kind: str, spread: float, fused: bool) -> Callable:
    dim = -1 if kind == "layernorm" else 0

    def case(dtype, device, seed):
        """x = offset + spread N(0, 1), the offset 0.01 N(0, 1) per row (LayerNorm) or per feature (BatchNorm): a
        variance of spread^2 against eps 1e-5. x is a parameter, so that dJ/dx is compared too."""
        g = generator(seed)
        offset = normal(g, NN, 1, scale=0.01) if dim == -1 else normal(g, 1, NC, scale=0.01)
        params = {
            "x": offset + normal(g, NN, NC, scale=spread),
            "gamma": normal(g, NC, scale=0.1, mean=1.0),
            "beta": normal(g, NC, scale=0.1),
            "W": normal(g, NC, NO, scale=1 / math.sqrt(NC)),
            "b": normal(g, NO, scale=0.1),
        }
        inputs = {"target": normal(g, NN, NO)}
        if fused:
            fb = fused_norm_forward(kind), fused_norm_backward(kind)
        else:
            fb = norm_forward(dim), norm_backward(dim)
        return (*fb, rounded(params, dtype, device), rounded(inputs, dtype, device))

    case.__name__ = f"{kind}{'_fused' if fused else ''}_spread{spread:g}"
    return case


# ---------------------------------------------------------------------------------------------------------------------
# (d) ReLU kinks: z exactly 0 at many elements

RN, RD, RH, RO = 120, 8, 32, 3  # 360 outputs: 2/360 is inexact, so manual and autograd round differently


def relu_forward(W1, b1, W2, b2, W3, b3, X, target):
    """z1 = X W1 + b1;  h1 = relu(z1);  z2 = h1 W2 + b2;  h2 = relu(z2);  out = h2 W3 + b3;
    J = mean((out - target)^2)"""
    z1 = X @ W1 + b1
    h1 = torch.relu(z1)
    z2 = h1 @ W2 + b2
    h2 = torch.relu(z2)
    out = h2 @ W3 + b3
    return {"z1": z1, "h1": h1, "z2": z2, "h2": h2, "out": out, "loss": ((out - target) ** 2).mean()}


def relu_backward(fwd, W1, b1, W2, b2, W3, b3, X, target):
    """dJ/dout = 2 (out - target)/numel;  dJ/dh2 = dJ/dout W3^T;  dJ/dz2 = [z2 > 0] dJ/dh2  (relu'(0) = 0, as torch);
    dJ/dh1 = dJ/dz2 W2^T;  dJ/dz1 = [z1 > 0] dJ/dh1;  dJ/dW = input^T dJ/d(output);  dJ/db = sum_n dJ/d(output)"""
    z1, h1, z2, h2, out = fwd["z1"], fwd["h1"], fwd["z2"], fwd["h2"], fwd["out"]
    d_out = mse_backward(out, target)
    d_h2 = d_out @ W3.T
    d_z2 = torch.where(z2 > 0, d_h2, torch.zeros_like(d_h2))
    d_h1 = d_z2 @ W2.T
    d_z1 = torch.where(z1 > 0, d_h1, torch.zeros_like(d_h1))
    return {
        "out": d_out,
        "W3": h2.T @ d_out,
        "b3": d_out.sum(0),
        "h2": d_h2,
        "z2": d_z2,
        "W2": h1.T @ d_z2,
        "b2": d_z2.sum(0),
        "h1": d_h1,
        "z1": d_z1,
        "W1": X.T @ d_z1,
        "b1": d_z1.sum(0),
    }


def relu_kinks(dtype, device, seed):
    """X, W1, b1, W2, b2 multiples of 1/2, 1/4, 1/8, 1/8, 1/64: z1 and z2 exact in every dtype (a float32
    accumulation of at most 8 or 32 such terms), exactly 0 at many elements. W3, b3 and the target are random."""
    g = generator(seed)
    params = {
        "W1": grid(g, RD, RH, step=1 / 4),
        "b1": grid(g, RH, step=1 / 8, levels=1),
        "W2": grid(g, RH, RH, step=1 / 8),
        "b2": grid(g, RH, step=1 / 64, levels=1),
        "W3": normal(g, RH, RO, scale=1 / math.sqrt(RH)),
        "b3": normal(g, RO, scale=0.1),
    }
    inputs = {"X": grid(g, RN, RD, step=1 / 2), "target": normal(g, RN, RO)}
    return relu_forward, relu_backward, rounded(params, dtype, device), rounded(inputs, dtype, device)


# ---------------------------------------------------------------------------------------------------------------------
# (e) long reductions: N = 100,000 samples, a mean loss

LONG_N = 100_000


def logistic_forward(w, b, X, y):
    """z = X w + b;  sigma = sigmoid(z);  r = sigma - y;  J = mean(r^2)"""
    z = X @ w + b
    sigma = torch.sigmoid(z)
    r = sigma - y
    return {"z": z, "sigma": sigma, "r": r, "loss": (r * r).mean()}


def logistic_backward(fwd, w, b, X, y):
    """dJ/dr = 2 r / N;  dJ/dsigma = dJ/dr;  dJ/dz = sigma (1 - sigma) dJ/dsigma;  dJ/dw = X^T dJ/dz  (a sum over
    100,000 samples);  dJ/db = sum_n dJ/dz"""
    sigma, r = fwd["sigma"], fwd["r"]
    d_r = 2 * r / r.numel()
    d_z = sigma * (1 - sigma) * d_r
    return {"r": d_r, "sigma": d_r, "z": d_z, "w": X.T @ d_z, "b": d_z.sum()}


def logistic_long(dtype, device, seed):
    """X: 4 features N(3, 1) (their sums do not cancel), w ~ N(0, 1/4), labels drawn from the model's own sigmoid."""
    g = generator(seed)
    params = {"w": normal(g, 4, scale=0.5), "b": normal(g, 1)[0]}
    X = normal(g, LONG_N, 4, mean=3.0)
    p = torch.sigmoid(X @ params["w"] + params["b"])
    y = (torch.rand(LONG_N, generator=g, dtype=torch.float64) < p).to(torch.float64)
    return logistic_forward, logistic_backward, rounded(params, dtype, device), rounded({"X": X, "y": y}, dtype, device)


def linreg_forward(W, b, X, Y):
    """pred = X W + b;  r = pred - Y;  J = mean(r^2)"""
    pred = X @ W + b
    r = pred - Y
    return {"pred": pred, "r": r, "loss": (r * r).mean()}


def linreg_backward(fwd, W, b, X, Y):
    """dJ/dr = 2 r / numel;  dJ/dpred = dJ/dr;  dJ/dW = sum_n x_n ⊗ dJ/dpred_n  (100,000 terms, summed feature by
    feature rather than as one matmul);  dJ/db = sum_n dJ/dpred"""
    r = fwd["r"]
    d_r = 2 * r / r.numel()
    return {"r": d_r, "pred": d_r, "W": (X[:, :, None] * d_r[:, None, :]).sum(0), "b": d_r.sum(0)}


def linreg_long(dtype, device, seed):
    """Y = X W* + noise 0.1, features of mean 10; W and b at the float64 least-squares fit, where a converged model
    sits: dJ/dW and dJ/db are 0 in exact arithmetic there, the noise of sums over 100,000 samples in floats."""
    g = generator(seed)
    X = normal(g, LONG_N, 8, mean=10.0)
    Y = X @ normal(g, 8, 2, scale=0.1) + normal(g, LONG_N, 2, scale=0.1)
    # driver gelsd (SVD): the same fit at every call; the CPU's default, gelsy, returned another one (ULPs apart) at
    # each call of the same process (torch 2.13.0+cpu, measured 2026-12-08), so that the case moved from run to run
    fit = torch.linalg.lstsq(torch.cat([X, torch.ones_like(X[:, :1])], 1), Y, driver="gelsd").solution  # [9, 2]
    params = {"W": fit[:-1], "b": fit[-1]}
    return linreg_forward, linreg_backward, rounded(params, dtype, device), rounded({"X": X, "Y": Y}, dtype, device)


# ---------------------------------------------------------------------------------------------------------------------
# (f) gradients zero in exact arithmetic

ZN, ZD, ZH, ZO = 64, 8, 16, 4


def bias_bn_forward(W, b, gamma, beta, W2, X, target):
    """z = X W + b;  n = batch_norm(z) with gamma, beta  (per feature: b cancels, dJ/db = 0 exactly);  out = n W2;
    J = mean((out - target)^2)"""
    z = X @ W + b
    n = F.batch_norm(z, None, None, gamma, beta, training=True, eps=EPS)
    out = n @ W2
    return {"z": z, "n": n, "out": out, "loss": ((out - target) ** 2).mean()}


def bias_bn_backward(fwd, W, b, gamma, beta, W2, X, target):
    """dJ/dout = 2 (out - target)/numel;  dJ/dn = dJ/dout W2^T;  g = gamma ∘ dJ/dn;
    dJ/dz = rstd (g - mean_n g - zhat mean_n(g ∘ zhat))  (its columns sum to 0);  dJ/dW = X^T dJ/dz;
    dJ/db = sum_n dJ/dz, 0 in exact arithmetic, computed as the chain rule says (rounding noise)"""
    z, n, out = fwd["z"], fwd["n"], fwd["out"]
    d_out = mse_backward(out, target)
    d_n = d_out @ W2.T
    wide = opmath(z)
    zw = z.to(wide)
    mu = zw.mean(0)
    rstd = torch.rsqrt(((zw - mu) ** 2).mean(0) + EPS)
    zhat = (zw - mu) * rstd
    gw = d_n.to(wide) * gamma.to(wide)
    d_z = (rstd * (gw - gw.mean(0) - zhat * (gw * zhat).mean(0))).to(z.dtype)
    return {
        "out": d_out,
        "W2": n.T @ d_out,
        "n": d_n,
        "gamma": (d_n.to(wide) * zhat).sum(0).to(z.dtype),
        "beta": d_n.sum(0),
        "z": d_z,
        "W": X.T @ d_z,
        "b": d_z.sum(0),
    }


def bias_into_batchnorm(dtype, device, seed):
    """A bias of magnitude 1 feeding BatchNorm: its gradient is 0 in exact arithmetic."""
    g = generator(seed)
    params = {
        "W": normal(g, ZD, ZH, scale=1 / math.sqrt(ZD)),
        "b": normal(g, ZH),
        "gamma": normal(g, ZH, scale=0.1, mean=1.0),
        "beta": normal(g, ZH, scale=0.1),
        "W2": normal(g, ZH, ZO, scale=1 / math.sqrt(ZH)),
    }
    inputs = {"X": normal(g, ZN, ZD), "target": normal(g, ZN, ZO)}
    return bias_bn_forward, bias_bn_backward, rounded(params, dtype, device), rounded(inputs, dtype, device)


def shift_forward(W, s, X, y):
    """logits = X W + s  (s [N, 1], one shift per sample: softmax cancels it);  logp = log_softmax(logits);
    J = mean_n -logp[n, y_n]"""
    logits = X @ W + s
    logp = torch.log_softmax(logits, dim=1)
    return {"logits": logits, "logp": logp, "loss": F.nll_loss(logp, y)}


def shift_backward(fwd, W, s, X, y):
    """dJ/dlogp = -onehot(y)/N;  dJ/dlogits = dJ/dlogp - softmax(logits) sum_k dJ/dlogp;  dJ/dW = X^T dJ/dlogits;
    dJ/ds = 0: each row of dJ/dlogits sums to 0 in exact arithmetic (written as the exact zero it is)"""
    logp = fwd["logp"]
    d_logp = -F.one_hot(y, logp.shape[1]).to(logp.dtype) / X.shape[0]
    d_logits = d_logp - torch.exp(logp) * d_logp.sum(1, keepdim=True)
    return {"logp": d_logp, "logits": d_logits, "W": X.T @ d_logits, "s": torch.zeros_like(s)}


def softmax_shift(dtype, device, seed):
    """Shifts of magnitude 10 per sample, logits of order 3 around them, 10 classes."""
    g = generator(seed)
    params = {"W": normal(g, ZD, 10, scale=3 / math.sqrt(ZD)), "s": normal(g, ZN, 1, scale=10.0)}
    inputs = {"X": normal(g, ZN, ZD), "y": torch.randint(0, 10, (ZN,), generator=g)}
    return shift_forward, shift_backward, rounded(params, dtype, device), rounded(inputs, dtype, device)


# ---------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str  # the id: attention-x4
    category: str
    build: Callable  # (dtype, device, seed) -> (forward, backward, params, inputs)
    plants: tuple[str, ...]  # where single-element planted errors go
    row_plant: str | None = None  # a [B, T, T] gradient where a whole planted row goes


CASES = {
    c.name: c
    for c in [
        Case("attention-x2", "attention", attention(2.0), ("masked", "q"), "att"),
        Case("attention-x4", "attention", attention(4.0), ("masked", "q"), "att"),
        Case("xent-x30", "xent", xent(30.0), ("logits", "W1")),
        Case("xent-x100", "xent", xent(100.0), ("logits", "W1")),
        Case("layernorm-spread1e-3", "norm", norm("layernorm", 1e-3, fused=False), ("xc", "x")),
        Case("layernorm-fused-spread1e-4", "norm", norm("layernorm", 1e-4, fused=True), ("x",)),
        Case("batchnorm-spread1e-4", "norm", norm("batchnorm", 1e-4, fused=False), ("xc", "x")),
        Case("batchnorm-fused-spread1e-3", "norm", norm("batchnorm", 1e-3, fused=True), ("x",)),
        Case("relu-kinks", "relu", relu_kinks, ("h2", "z1")),
        Case("logistic-1e5", "long", logistic_long, ("z", "w")),
        Case("linreg-1e5", "long", linreg_long, ("r", "W")),
        Case("bias-into-batchnorm", "zero", bias_into_batchnorm, ("z", "W")),
        Case("softmax-shift", "zero", softmax_shift, ("logits", "s")),
    ]
}
