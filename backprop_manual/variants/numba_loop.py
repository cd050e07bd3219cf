"""The machine floor: the same per-sample loop compiled to machine code by numba, in float64 or float32.

for each epoch, for each sample (x, y):
    z = w·x + b;  y_hat = 1 / (1 + e^-z)
    dJ/dsigma = 2 (y_hat - y);  dJ/dz = y_hat (1 - y_hat) · dJ/dsigma;  dJ/dw = x · dJ/dz;  dJ/db = dJ/dz
    w <- w - eta·dJ/dw;  b <- b - eta·dJ/db

Op for op the arithmetic of loop.gradient_descent, with no interpreter and no framework: what a step costs on this
hardware. numba is an optional extra, `pip install -c constraints.txt -e '.[numba]'`; this module imports without it,
and numba_descent then raises NumbaMissing saying so.
"""

from functools import cache

import numpy as np

INSTALL = "pip install -c constraints.txt -e '.[numba]'"
DTYPES = (np.float64, np.float32)


class NumbaMissing(ImportError):
    """numba_descent was called where numba is not installed."""


@cache
def compiled(dtype: np.dtype):
    """The loop, compiled by numba on its first call, every constant in `dtype`: to numba a Python float is a
    float64, which would promote a float32 loop."""
    try:
        import numba
    except ImportError as e:
        raise NumbaMissing(f"the machine floor needs numba, which is not installed: {INSTALL}") from e
    one, two = dtype.type(1), dtype.type(2)

    @numba.njit
    def descent(w, b, X, y, eta, epochs):
        for _ in range(epochs):
            for i in range(X.shape[0]):
                x_i, y_i = X[i], y[i]
                z = w * x_i + b
                y_hat = one / (one + np.exp(-z))
                delta_J_delta_sigma = two * (y_hat - y_i)
                delta_J_delta_z = y_hat * (one - y_hat) * delta_J_delta_sigma
                w -= eta * (x_i * delta_J_delta_z)
                b -= eta * delta_J_delta_z
        return w, b

    return descent


def numba_descent(
    w: float, b: float, X: np.ndarray, y: np.ndarray, *, eta: float = 1e-4, epochs: int = 20
) -> tuple[np.floating, np.floating]:
    """Per-sample gradient descent from (w, b) over `epochs` passes of (X, y), in X's dtype (float64 or float32);
    y is cast to it, as the torch loops cast an integer target. Returns (w, b) as scalars of X's dtype."""
    X = np.ascontiguousarray(X)
    if X.ndim != 1 or X.dtype not in DTYPES:
        raise ValueError(f"X must be a 1-D float64 or float32 array; got {X.ndim}-D {X.dtype}")
    if np.shape(y) != X.shape:
        raise ValueError(f"y must have X's shape {list(X.shape)}; got {list(np.shape(y))}")
    real = X.dtype.type
    y = np.ascontiguousarray(y, dtype=X.dtype)
    w, b = compiled(X.dtype)(real(w), real(b), X, y, real(eta), int(epochs))
    return real(w), real(b)  # numba hands back Python floats: float32's convert back exactly
