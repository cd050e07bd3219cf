"""What the loops accept: one dtype and one device for everything, decided by the caller, never by promotion.

The lesson's w = torch.tensor(2.) is a 0-d float32; multiplied by its float64 sample of shape [1] it becomes a
float64 of shape [1] after the first update. That silent promotion is what we refuse: the parameters are 0-d
tensors of X's dtype on X's device, X holds one feature value per sample (shape [N]), and what comes out of the
loops has exactly the dtype, device and shape that went in. (`backprop_manual.lesson` keeps the lesson's own
behaviour, promotion included, as an exhibit.)
"""

import torch


def check_neuron_inputs(w: torch.Tensor, b: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> None:
    """Raise ValueError naming the first argument that would make torch promote, broadcast or move data."""
    if X.ndim != 1:
        raise ValueError(
            f"X must be 1-D, one feature value per sample; got shape {list(X.shape)}"
            + (" (use X.squeeze(1))" if X.ndim == 2 and X.shape[1] == 1 else "")
        )
    if not X.is_floating_point():
        raise ValueError(f"X must be a floating-point tensor; got {X.dtype}")
    for name, p in (("w", w), ("b", b)):
        if p.ndim != 0:
            raise ValueError(f"{name} must be a 0-d tensor; got shape {list(p.shape)}")
        if p.dtype != X.dtype:
            raise ValueError(
                f"{name} is {p.dtype} but X is {X.dtype}: torch would promote the result behind your back; "
                f"create {name} with dtype={X.dtype}"
            )
    if y.shape != X.shape:
        raise ValueError(f"y must have X's shape {list(X.shape)}; got {list(y.shape)}")
    if y.is_floating_point() and y.dtype != X.dtype:
        raise ValueError(f"y is {y.dtype} but X is {X.dtype}: use X's dtype or an integer target")
    for name, t in (("w", w), ("b", b), ("y", y)):
        if t.device != X.device:
            raise ValueError(f"{name} is on {t.device} but X is on {X.device}: move them yourself")
