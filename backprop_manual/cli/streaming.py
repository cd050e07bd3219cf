"""Verify a CSV chunk by chunk, in bounded memory, through the same comparison as a verification in memory.

Each chunk is compared by compare_chain, as verify_gradients' default oracle gives it (bit for bit), and each of
its rows names the few samples that decided it (Row.deciding: compare.py's own argmax, argmin and firsts). Only
those samples are kept from one chunk to the next, so that compare_chain over the kept ones gives the whole file's
rows, field for field, verdict and messages included; what counts over every sample (the mismatches, the size) is
summed over the chunks. tests/cli/test_streaming.py compares every field with compare_chain over the whole file.
"""

from dataclasses import dataclass, field, replace

import torch

from backprop_manual.neuron.data import Chunk
from backprop_manual.neuron.passes import CHAIN, Gradients, gradients
from backprop_manual.neuron_check.verify import Verification, autograd_gradients, compare_chain


@dataclass
class StreamedVerification:
    """One device and dtype's verification of a whole file, fed a chunk at a time."""

    w: torch.Tensor  # 0-d, of the dtype, on the device
    b: torch.Tensor
    feature: str = "mean_area"  # the CSV's column names, for the Verification's messages
    target: str = "is_cancerous"
    samples: int = 0
    kept: Verification | None = field(default=None, repr=False)  # the deciding samples of all chunks so far
    positions: list[int] = field(default_factory=list)  # the kept samples' positions among the file's rows
    mismatched: list[int] = field(default_factory=lambda: [0] * len(CHAIN))  # per row, over every chunk so far

    def add(self, chunk: Chunk) -> None:
        X, y = (torch.tensor(v, dtype=self.w.dtype, device=self.w.device) for v in (chunk.x, chunk.y))
        self.keep(
            chunk.start,
            list(chunk.ids),
            X,
            y,
            gradients(self.w, X, self.b, y),
            autograd_gradients(self.w, X, self.b, y),
        )

    def keep(
        self, start: int, ids: list[int], X: torch.Tensor, y: torch.Tensor, manual: Gradients, autograd: Gradients
    ) -> None:
        """Take in the samples that follow those seen so far (the first at file position `start`)."""
        later = Verification(
            manual,
            autograd,
            compare_chain(manual, autograd),
            self.w,
            self.b,
            X,
            y,
            ids,
            feature=self.feature,
            target=self.target,
        )
        self.samples += len(ids)
        self.mismatched = [n + r.mismatched for n, r in zip(self.mismatched, later.report.rows, strict=True)]
        idx = later.deciding()
        later, positions = later.select(idx), [start + i for i in idx]
        if self.kept is not None:
            later, positions = join(self.kept, later), self.positions + positions
            idx = later.deciding()
            later, positions = later.select(idx), [positions[i] for i in idx]
        self.kept, self.positions = later, positions

    def verification(self) -> Verification:
        """The file's Verification: its rows count over every sample and name file positions (`index`); `at` and
        the samples it carries (X, y, ids, both sides' gradients) are the kept ones."""
        k, at = self.kept, self.positions
        rows = [  # what counts over the whole file: its size, the mismatches of every chunk, file positions
            replace(r, index=[at[r.at]], numel=self.samples, mismatched=n, deciding=tuple(at[i] for i in r.deciding))
            for r, n in zip(k.report.rows, self.mismatched, strict=True)
        ]
        return replace(k, report=replace(k.report, rows=rows))


def join(a: Verification, b: Verification) -> Verification:
    """a's samples, then b's, compared together."""
    manual, autograd = (
        Gradients(*(torch.cat(p) for p in zip(x, y, strict=True)))
        for x, y in ((a.manual, b.manual), (a.autograd, b.autograd))
    )
    return replace(
        a,
        manual=manual,
        autograd=autograd,
        report=compare_chain(manual, autograd),
        X=torch.cat((a.X, b.X)),
        y=torch.cat((a.y, b.y)),
        ids=a.ids + b.ids,
    )
