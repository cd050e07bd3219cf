"""The neuron's data: the lesson's cell data set (mean_area -> is_cancerous) and any CSV like it, checked and
read in chunks: one numeric feature column, a 0/1 target, an optional index column.

The sample index follows pandas' convention: the first column is the index when its header cell is empty (as
pandas' to_csv writes it; the bundled data/cell_data.csv has one), or the column `index_col` names (--index-col);
otherwise samples are numbered from 0. Anything the verification cannot use raises DataError, whose message says
what is wrong and where: the row (counted from 1 after the header), the sample's index and the column.
"""

import codecs
import difflib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch

from backprop_manual._data import bundled

if TYPE_CHECKING:  # pandas is imported where a file is read, not with the package: 0.5 s (python -X importtime)
    import pandas as pd  # that `import backprop_manual`, each test process and each subprocess would pay otherwise

CHUNK_ROWS = 1 << 17  # 131,072 rows, ~25 MB of pandas text: bounded memory; a multiple of every SIMD width
BLOCK_BYTES = 1 << 20  # count_lines reads this much at a time
READ = dict(dtype=str, keep_default_na=False, index_col=False, encoding="utf-8")  # raw text: errors can quote it


class DataError(ValueError):
    """A CSV that cannot be verified; the message names the file, and the row and column where it applies."""


class Chunk(NamedTuple):
    start: int  # position of its first row among the file's rows
    x: np.ndarray  # [n] float64, the feature
    y: np.ndarray  # [n] float64, the target, each 0 or 1
    ids: list[int]  # the index column's value of each row, or its position

    def head(self, n: int | None) -> "Chunk":
        return Chunk(self.start, self.x[:n], self.y[:n], self.ids[:n])  # n None: all of it


def concatenate(parts: list[Chunk]) -> Chunk:
    x, y = (np.concatenate([getattr(c, f) for c in parts]) for f in ("x", "y"))
    return Chunk(parts[0].start, x, y, [i for c in parts for i in c.ids])


def count_lines(path: str | Path) -> int:
    """Lines in the file (for a progress bar's total), checking on the way that it is UTF-8 text.

    A last line without a newline counts too, so a CSV's rows are count_lines - 1 with or without one.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = offset = line_start = 0  # line_start: offset of the current line's first byte
    try:
        with open(path, "rb") as f:
            while block := f.read(BLOCK_BYTES):
                decoder.decode(block)
                if (newline := block.rfind(b"\n")) >= 0:
                    line_start = offset + newline + 1
                lines, offset = lines + block.count(b"\n"), offset + len(block)
        decoder.decode(b"", final=True)  # a character cut off by the end of the file
    except UnicodeDecodeError as e:  # e.object: the block, after any bytes held back from the one before
        raise DataError(not_utf8(path, e, offset - (len(e.object) - len(block)), lines, line_start)) from None
    return lines + (line_start < offset)  # bytes after the last newline: a last line


def not_utf8(path: str | Path, e: UnicodeDecodeError, base: int, lines: int, line_start: int) -> str:
    """e.object: the bytes decoded from file offset `base` on (a block, after bytes held back from the one before)."""
    data, at = e.object, e.start
    before = data[:at]  # the bytes from `base` up to the bad one
    newline = before.rfind(b"\n")
    column = at - newline if newline >= 0 else base + at - line_start + 1
    line = lines + before.count(b"\n") + 1
    return f"{path} is not UTF-8 text: byte 0x{data[at]:02x} on line {line}, column {column}; save it as UTF-8"


class Layout(NamedTuple):
    """What one look at a CSV tells before its rows are read."""

    names: list[str]  # the header's column names, as written
    rows: int  # at most this many rows (blank lines count too): a progress bar's total


def inspect(path: str | Path, feature: str, target: str, index_col: str | None = None) -> Layout:
    """The file's layout, once it is known to exist, to be UTF-8 text and to hold the columns asked for: one pass
    over its bytes (count_lines) and its header line. chunks(..., names=layout.names) then reads it once more."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{path}: no such file")
    if p.is_dir():
        raise DataError(f"{path} is a directory, not a CSV file")
    lines = count_lines(p)
    return Layout(header_names(path, feature, target, index_col), max(lines - 1, 0))


def header(path: str | Path, feature: str, target: str, index_col: str | None = None) -> list[str]:
    """The column names, once the file is known to exist, to be UTF-8 text and to hold the columns asked for."""
    return inspect(path, feature, target, index_col).names


def header_names(path: str | Path, feature: str, target: str, index_col: str | None) -> list[str]:
    """The header line's names, checked against the columns asked for (the file is known to be UTF-8 text)."""
    import pandas as pd

    try:
        names = pd.read_csv(path, header=None, nrows=1, **READ).iloc[0].tolist()
    except pd.errors.EmptyDataError:
        raise DataError(
            f"{path} is empty: expected a header line naming the columns, then one row per sample"
        ) from None
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataError(
            f"{path}: column names repeat: {', '.join(map(repr, repeated))}; each column needs its own name"
        )
    asked = (("--feature", feature), ("--target", target), ("--index-col", index_col))
    for option, name in asked:
        if name is not None and name not in names:
            raise DataError(missing_column(path, option, name, names))
    if feature == target:
        raise DataError(f"--feature and --target are both {feature!r}: the target must be another column")
    for option, name in asked[:2]:
        if name == index_column(names, index_col):
            raise DataError(f"{option} and --index-col are both {name!r}: the sample index must be another column")
    return names


def index_column(names: list[str], index_col: str | None) -> str | None:
    """The column the samples' ids come from: index_col if given, else the first if its header cell is empty
    (pandas' to_csv writes the index so), else None: the samples are numbered from 0."""
    if index_col is not None:
        return index_col
    return names[0] if names[0] == "" else None


def missing_column(path: str | Path, option: str, name: str, names: list[str]) -> str:
    for sep, what in ((";", "semicolon"), ("\t", "tab")):
        if any(sep in n for n in names):
            return (
                f"{path} looks {what}-delimited (header {sep.join(names)!r}): this tool reads comma-separated "
                f"files; convert it, e.g. pandas.read_csv(path, sep={sep!r}).to_csv(new_path, index=False)"
            )
    close = difflib.get_close_matches(name, names)  # best first
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{path} has no column {name!r} ({option}){hint}; its columns are: {', '.join(map(repr, names))}"


def numbers(raw: "pd.Series", column: str, start: int, ids: list[int] | None, path: str | Path) -> np.ndarray:
    """The column's values as float64; DataError at the first cell that is empty, not a number, NaN or inf.

    to_numeric says which cells are numbers, but rounds some of them 1 ULP off (+6.404227e-27, measured); the
    values come from float() of each text, correctly rounded, as pandas' C parser reads them on the fast path."""
    import pandas as pd

    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype="float64")
    bad = np.flatnonzero(~np.isfinite(values))
    if not bad.size:
        values = np.array(raw.to_numpy(), dtype="float64")
    if bad.size:
        i = int(bad[0])
        text = raw.iloc[i].strip()
        what = (
            "is empty"
            if not text
            else f"is {text!r}: " + ("not finite" if text.lower() in NON_FINITE else "not a number")
        )
        raise DataError(f"{path}: {where(start, i, ids)}, {column} {what}; every value must be a finite number")
    return values


NON_FINITE = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}


def where(start: int, i: int, ids: list[int] | None) -> str:
    return f"row {start + i + 1}" + (f" (index {ids[i]})" if ids else "")


def chunks(
    path: str | Path,
    feature: str,
    target: str,
    *,
    index_col: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
    nrows: int | None = None,
    names: list[str] | None = None,
) -> Iterator[Chunk]:
    """The file's rows, checked, `chunk_rows` at a time (only the first `nrows` if given); DataError if none.

    names: inspect(...).names, when the caller has looked at the file already (else it is looked at here).
    The numbers are parsed by pandas' C parser, its types inferred; a chunk where a column is not all numbers (text,
    or TRUE/FALSE, which pandas would read as 1/0 if it were told float64), or where a value is not finite, is read
    again as text from there on, so that the message can quote the cell. Both paths give the same float64 values,
    bit for bit (tests/neuron/test_data.py)."""
    import pandas as pd

    names = header(path, feature, target, index_col) if names is None else names
    index = index_column(names, index_col)
    wanted = [names.index(c) for c in (index, feature, target) if c is not None]  # by position: an empty name
    start, text_from = 0, None
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)  # a row longer than the header: an error, not a loss
        try:
            # no usecols: it would let a row longer than the header by. `with`: the file is closed however the
            # reading ends (a problem, the caller stopping early), not left to a ResourceWarning at GC time
            with pd.read_csv(
                path,
                chunksize=chunk_rows,
                nrows=nrows,
                header=0,
                names=range(len(names)),
                index_col=False,
                encoding="utf-8",
            ) as fast:
                try:
                    for df in fast:
                        if df.empty:  # a header and blank lines
                            continue
                        columns = [df[p].to_numpy() for p in wanted]
                        if not all(c.dtype.kind in "iuf" for c in columns):  # object (text) or bool: not numbers
                            raise ValueError("a cell that is not a number: its message needs the text")
                        columns = [c.astype(np.float64) for c in columns]
                        if not all(np.isfinite(c).all() for c in columns):
                            raise ValueError("a value that is not finite: its message needs the text")
                        chunk = checked(columns, index is not None, start)
                        if chunk is None:
                            raise ValueError("a value out of place: its message needs the text")
                        yield chunk
                        start += len(df)
                except ValueError:  # not a number, not finite, not 0/1 or malformed: as text from this chunk on
                    text_from = start
            if text_from is not None:
                for chunk in text_chunks(path, names, feature, target, index, index_col, chunk_rows, nrows, start):
                    yield chunk
                    start += len(chunk.ids)
        except (pd.errors.ParserError, pd.errors.ParserWarning) as e:
            raise DataError(f"{path} is not a well-formed CSV: {str(e).strip()}") from None
    if start == 0:
        raise DataError(f"{path} has a header ({', '.join(map(repr, names))}) but no rows")


def checked(columns: list[np.ndarray], indexed: bool, start: int) -> Chunk | None:
    """A chunk of finite float64 columns ([index,] feature, target), or None where an id is not a whole number or
    a target not 0 or 1: the text path says where."""
    *index, x, y = columns
    if ((y != 0) & (y != 1)).any() or (indexed and (index[0] != np.round(index[0])).any()):
        return None
    ids = index[0].astype(np.int64).tolist() if indexed else list(range(start, start + len(x)))
    return Chunk(start, x, y, ids)


def text_chunks(path, names, feature, target, index, index_col, chunk_rows, nrows, skip) -> Iterator[Chunk]:
    """The rows from position `skip` on, read as text and checked cell by cell: each problem's message quotes it."""
    import pandas as pd

    start = 0
    with pd.read_csv(path, chunksize=chunk_rows, nrows=nrows, **READ) as reader:  # closed however it ends
        for df in reader:
            if df.empty:
                continue
            if start < skip:  # the same chunks as the float64 reader's, already checked
                start += len(df)
                continue
            df.columns = names  # pandas renames an empty header cell; the raw names are the ones users wrote
            ids = list(range(start, start + len(df)))
            if index is not None:
                ids = whole_numbers(df[index], index_col, start, path).astype(np.int64).tolist()
            x = numbers(df[feature], f"column {feature!r}", start, ids, path)
            y = numbers(df[target], f"column {target!r}", start, ids, path)
            not_binary = np.flatnonzero((y != 0) & (y != 1))
            if not_binary.size:
                i = int(not_binary[0])
                raise DataError(
                    f"{path}: {where(start, i, ids)}, column {target!r} is {df[target].iloc[i].strip()!r}: "
                    "the target must be 0 or 1"
                )
            yield Chunk(start, x, y, ids)
            start += len(df)


def whole_numbers(raw: "pd.Series", index_col: str | None, start: int, path: str | Path) -> np.ndarray:
    """The index column: whole numbers, the samples' ids in messages and tables."""
    column = "the first column (the sample index)" if index_col is None else f"column {index_col!r} (--index-col)"
    values = numbers(raw, column, start, None, path)  # ids None: this column is where they come from
    fractional = np.flatnonzero(values != np.round(values))
    if fractional.size:
        i = int(fractional[0])
        raise DataError(f"{path}: {where(start, i, None)}, {column} is {raw.iloc[i].strip()!r}: not a whole number")
    return values


def read(
    path: str | Path,
    feature: str,
    target: str,
    *,
    index_col: str | None = None,
    nrows: int | None = None,
    names: list[str] | None = None,
) -> Chunk:
    """The whole file (or its first `nrows` rows) as one chunk."""
    return concatenate(list(chunks(path, feature, target, index_col=index_col, nrows=nrows, names=names)))


CELL_DATA = bundled("cell_data.csv")


class Samples(NamedTuple):
    X: torch.Tensor  # [N] feature, e.g. mean_area
    y: torch.Tensor  # [N] target in {0, 1}, X's dtype
    ids: list[int]  # the CSV's index value of each row


def samples(chunk: Chunk, *, dtype: torch.dtype, device: str | torch.device) -> Samples:
    """Rows read from a CSV as tensors of the caller's dtype on the caller's device."""
    X = torch.tensor(chunk.x, dtype=dtype, device=device)
    y = torch.tensor(chunk.y, dtype=dtype, device=device)
    return Samples(X, y, list(chunk.ids))


def load_cell_data(
    path: str | Path = CELL_DATA,
    *,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
    feature: str = "mean_area",
    target: str = "is_cancerous",
    index_col: str | None = None,
) -> Samples:
    """Read the CSV into tensors. The ids come from index_col, else from the first column if its header cell is
    empty (pandas' to_csv, the lesson's cell_data-2.csv), else they are the rows' positions from 0.

    Raises DataError (a ValueError) naming the file, row and column of anything it cannot use: see csv_input.
    """
    return samples(read(path, feature, target, index_col=index_col), dtype=dtype, device=device)
