"""The neuron's gradients compared in chain order by the chain verifier's own rows (check/compare.py).

The neuron's chain is sigma, z, w, b: dJ/dsigma -> dJ/dz -> dJ/dw, dJ/db, each row named by the lesson
(delta_J_delta_z, dJ/dz). Its samples are independent, so each row is compared per sample: no rounding floor is
shared between samples (check/floor.py gives a scalar per sample none), and `at` is the sample's position.
"""

import torch

from backprop_manual.check.chain import ChainReport
from backprop_manual.check.compare import Row, compare_tensor
from backprop_manual.passes import CHAIN, Gradients

NAMES = dict(zip(CHAIN, ("sigma", "z", "w", "b"), strict=True))  # Gradients field -> the chain's name


def compare_intermediate(field: str, manual: torch.Tensor, autograd: torch.Tensor) -> Row:
    """One of the neuron's rows, by its lesson name (delta_J_delta_z), over the samples of manual and autograd."""
    return compare_tensor(NAMES[field], manual, autograd, per_sample=True)


def compare_chain(manual: Gradients, autograd: Gradients) -> ChainReport:
    """Every intermediate of the chain, in chain order, none skipped after a failure."""
    rows = [compare_intermediate(f, getattr(manual, f), getattr(autograd, f)) for f in CHAIN]
    return ChainReport(
        rows,
        {NAMES[f]: getattr(manual, f) for f in CHAIN},
        {NAMES[f]: getattr(autograd, f) for f in CHAIN},
        autograd.delta_J_delta_z.dtype,
        autograd.delta_J_delta_z.device,
        params=("w", "b"),
    )
