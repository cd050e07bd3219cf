"""Custom torch.autograd.Functions for verify_function's tests, each with its reference in torch's own ops, and the
mistakes people make in them, planted one at a time.

LayerNorm: n = (x - mean(x)) · rstd, rstd = 1 / sqrt(var(x) + eps), y = n · w + b (over the last axis)
    dn = dy · w;  dx = rstd · (dn - mean(dn) - n · mean(dn · n));  dw = Σ_batch dy · n;  db = Σ_batch dy
SiLU, fused: y = x · s, s = sigmoid(x);  dx = dy · s · (1 + x · (1 - s))
"""

import torch
import torch.nn.functional as F

LAYER_NORM_MISTAKES = {
    # name: (what it does, the name verify_function must blame first)
    "mean_dn_n_dropped": ("dx without the n · mean(dn · n) term", "x"),
    "rstd_squared": ("dx scaled by rstd² instead of rstd", "x"),
    "dw_from_dn": ("dw = Σ dn · n, w multiplied in once too often", "w"),
    "db_averaged": ("db = mean over the batch instead of the sum", "b"),
    "eps_outside_the_sqrt": ("the forward's rstd = 1 / (sqrt(var) + eps): a wrong forward", "out"),
}


def layer_norm(mistake: str | None = None):
    """LayerNorm as a torch.autograd.Function, right or with one of LAYER_NORM_MISTAKES planted; its .apply."""

    class LayerNorm(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, w, b, eps):
            mean = x.mean(-1, keepdim=True)
            var = x.var(-1, keepdim=True, unbiased=False)
            rstd = 1 / (var.sqrt() + eps) if mistake == "eps_outside_the_sqrt" else (var + eps).rsqrt()
            n = (x - mean) * rstd
            ctx.save_for_backward(n, w, rstd)
            return n * w + b

        @staticmethod
        def backward(ctx, dy):
            n, w, rstd = ctx.saved_tensors
            dn = dy * w
            scale = rstd**2 if mistake == "rstd_squared" else rstd
            dx = dn - dn.mean(-1, keepdim=True)
            if mistake != "mean_dn_n_dropped":
                dx = dx - n * (dn * n).mean(-1, keepdim=True)
            batch = tuple(range(dy.ndim - 1))
            dw = (dn * n).sum(batch) if mistake == "dw_from_dn" else (dy * n).sum(batch)
            db = dy.mean(batch) if mistake == "db_averaged" else dy.sum(batch)
            return scale * dx, dw, db, None

    return LayerNorm.apply


def layer_norm_reference(x, w, b, eps):
    return F.layer_norm(x, x.shape[-1:], w, b, eps)


def silu(mistake: str | None = None, *, in_place: str | None = None):
    """The fused SiLU; mistake "sigmoid_derivative": dx = dy · s(1 - s), the sigmoid's own. in_place: "incoming"
    multiplies dy in place, "saved" changes the saved x in place, "attribute" a tensor kept on ctx, not saved."""

    class SiLU(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            ctx.s = torch.sigmoid(x)
            return x * ctx.s

        @staticmethod
        def backward(ctx, dy):
            (x,) = ctx.saved_tensors
            s = ctx.s if in_place == "attribute" else torch.sigmoid(x)
            local = s * (1 - s) if mistake == "sigmoid_derivative" else s * (1 + x * (1 - s))
            if in_place == "incoming":
                return dy.mul_(local)
            if in_place == "saved":
                out = dy * local
                x.mul_(2)  # the saved input, changed in place: autograd's version counter sees it
                return out
            if in_place == "attribute":
                out = dy * local
                s.mul_(0.5)  # the next backward reads a halved s
                return out
            return dy * local

    return SiLU.apply


def silu_reference(x):
    return F.silu(x)


def flattening_silu(x):
    """A SiLU Function whose backward takes .view(-1) of its saved input: it fails on non-contiguous inputs."""

    class FlatSiLU(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * torch.sigmoid(x)

        @staticmethod
        def backward(ctx, dy):
            (x,) = ctx.saved_tensors
            flat = x.view(-1)  # needs contiguous memory
            s = torch.sigmoid(flat)
            return dy * (s * (1 + flat * (1 - s))).view(x.shape)

    return FlatSiLU.apply(x)
