"""The floor: the same per-sample loop in plain Python floats, with math.exp and no framework at all.

What a step costs with no tensors shows how much of each tensor step is framework overhead.
"""

import math


def float_descent(
    w: float, b: float, X: list[float], y: list[float], *, eta: float = 1e-4, epochs: int = 20
) -> tuple[float, float]:
    """y_hat = 1 / (1 + e^-(w·x + b));  dJ/dz = y_hat (1 - y_hat) · 2 (y_hat - y);  w -= eta·x·dJ/dz;  b -= eta·dJ/dz"""
    for _ in range(epochs):
        for x_i, y_i in zip(X, y):
            y_hat = 1.0 / (1.0 + math.exp(-(w * x_i + b)))
            dJ_dz = y_hat * (1.0 - y_hat) * (2.0 * (y_hat - y_i))
            w -= eta * (x_i * dJ_dz)
            b -= eta * dJ_dz
    return w, b
