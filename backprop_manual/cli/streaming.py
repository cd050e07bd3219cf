"""Verify a CSV chunk by chunk, in bounded memory, with compare.py's own verdict over the whole file.

compare_intermediate reduces the samples to a few, each decided by one sample: the first out of tolerance, the
first over the ULP budget, the least headroom (argmax |diff| - allowed), max |diff|, max rel, max ULP and
min allowed/|diff|. After each chunk only those deciding samples are kept (x, y, id and both gradients, as computed
in their chunk), so compare_chain over the kept ones gives the whole file's rows, field for field, verdict and
messages included. If compare_intermediate gains a reduction, `deciding` must pick its sample too:
tests/cli/test_streaming.py compares every field with compare_chain over the whole file, and fails until it does.
"""

import math
from dataclasses import dataclass, field, replace

import torch

from backprop_manual.check.neuron import Verification, autograd_gradients, compare_chain
from backprop_manual.check.tolerances import tolerances, ulp_budget, ulp_distance
from backprop_manual.neuron.data import Chunk
from backprop_manual.neuron.passes import CHAIN, Gradients, gradients


def deciding(manual: torch.Tensor, autograd: torch.Tensor) -> set[int]:
    """The positions whose values decide compare_intermediate(manual, autograd), whatever other samples exist."""
    rtol, atol = tolerances(autograd.dtype)
    m = manual.detach().to(device=autograd.device, dtype=torch.float64).reshape(-1)
    a = autograd.detach().to(torch.float64).reshape(-1)
    diff, allowed = (m - a).abs(), atol + rtol * a.abs()
    ulps = ulp_distance(m, autograd.detach().reshape(-1))
    bad = ~torch.isclose(m, a, rtol=rtol, atol=atol) | torch.isnan(diff)
    over = ulps > ulp_budget(autograd.dtype)
    rel = torch.where(diff == 0, 0.0, diff / a.abs())
    ratio = torch.where(diff == 0, math.inf, allowed / diff)
    firsts = {int(mask.nonzero()[0]) for mask in (bad, over) if mask.any()}
    # argmax and argmin return the first extreme, as max and min do, and a NaN where there is one
    return firsts | {int(torch.argmax(t)) for t in (diff - allowed, diff, rel, ulps)} | {int(torch.argmin(ratio))}


@dataclass
class Kept:
    """Samples in file order: where they are in the file, and what the verification needs of them."""

    positions: list[int]
    ids: list[int]
    X: torch.Tensor  # [k]
    y: torch.Tensor  # [k]
    manual: Gradients  # each [k]
    autograd: Gradients

    def select(self, idx: list[int]) -> "Kept":
        pick = [self.positions[i] for i in idx], [self.ids[i] for i in idx]
        grads = (Gradients(*(g[idx] for g in gs)) for gs in (self.manual, self.autograd))  # a list: on any device
        return Kept(*pick, self.X[idx], self.y[idx], *grads)

    def deciding(self) -> "Kept":
        """Only the samples that decide some intermediate's row."""
        pairs = zip(self.manual, self.autograd, strict=True)
        return self.select(sorted(set().union(*(deciding(m, a) for m, a in pairs))))

    def __add__(self, later: "Kept") -> "Kept":
        def cat(a: Gradients, b: Gradients) -> Gradients:
            return Gradients(*(torch.cat(pair) for pair in zip(a, b, strict=True)))

        return Kept(
            self.positions + later.positions,
            self.ids + later.ids,
            torch.cat((self.X, later.X)),
            torch.cat((self.y, later.y)),
            cat(self.manual, later.manual),
            cat(self.autograd, later.autograd),
        )


@dataclass
class StreamedVerification:
    """One device and dtype's verification of a whole file, fed a chunk at a time."""

    w: torch.Tensor  # 0-d, of the dtype, on the device
    b: torch.Tensor
    samples: int = 0
    kept: Kept | None = field(default=None, repr=False)
    mismatched: list[int] = field(default_factory=lambda: [0] * len(CHAIN))  # per row, over every chunk so far
    feature: str = "mean_area"  # the CSV's column names, for the Verification's messages
    target: str = "is_cancerous"

    def add(self, chunk: Chunk) -> None:
        X, y = (torch.tensor(v, dtype=self.w.dtype, device=self.w.device) for v in (chunk.x, chunk.y))
        manual, autograd = gradients(self.w, X, self.b, y), autograd_gradients(self.w, X, self.b, y)  # as verify's
        positions = list(range(chunk.start, chunk.start + len(chunk.ids)))
        self.keep(Kept(positions, list(chunk.ids), X, y, manual, autograd))

    def keep(self, later: Kept) -> None:
        """Take in the samples that follow those seen so far; keep the ones that decide the rows of all of them."""
        self.samples += len(later.positions)
        counted = compare_chain(later.manual, later.autograd).rows  # a count is not decided by a few samples
        self.mismatched = [n + r.mismatched for n, r in zip(self.mismatched, counted, strict=True)]
        later = later.deciding()
        self.kept = (later if self.kept is None else self.kept + later).deciding()

    def verification(self) -> Verification:
        """A Verification over the kept samples: its rows are the file's, `at` a position among the kept."""
        k = self.kept
        report = compare_chain(k.manual, k.autograd)
        report.rows = [  # what counts over the whole file: its size, the mismatches of every chunk, file positions
            replace(r, index=[k.positions[r.at]], numel=self.samples, mismatched=n)
            for r, n in zip(report.rows, self.mismatched, strict=True)
        ]
        return Verification(
            manual=k.manual,
            autograd=k.autograd,
            report=report,
            w=self.w,
            b=self.b,
            X=k.X,
            y=k.y,
            ids=k.ids,
            feature=self.feature,
            target=self.target,
        )  # manual_fn: gradients, the default, which computed k.manual
