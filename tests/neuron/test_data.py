"""csv_input on its own: the rows it reads, chunk by chunk, and the exact message for each kind of bad file.

tests/cli/test_bad_input.py checks the same messages through the CLI. Here the functions are called directly, with
chunks of 2 rows, so that positions, starts and ids are checked across chunk boundaries, and with count_lines
reading blocks of a few bytes, so that lines, characters and bad bytes fall across a block's end.
"""

import gc
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backprop_manual.neuron import data as csv_input
from backprop_manual.neuron.data import (
    CELL_DATA,
    CHUNK_ROWS,
    Chunk,
    DataError,
    chunks,
    concatenate,
    count_lines,
    header,
    load_cell_data,
    read,
    text_chunks,
)

HEADER = ",mean_area,is_cancerous\n"
FIVE_ROWS = "100,1,0\n101,2,1\n102,2.5,1\n103,3.25,0\n104,4,1\n"  # the index starts at 100: ids are not positions
FIVE_READ = (0, [100, 101, 102, 103, 104], [1.0, 2.0, 2.5, 3.25, 4.0], [0.0, 1.0, 1.0, 0.0, 1.0])


def write(tmp_path: Path, content: str | bytes) -> Path:
    path = tmp_path / "cells.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def in_pairs(path: Path, feature: str = "mean_area", target: str = "is_cancerous", **options) -> list[Chunk]:
    return list(chunks(path, feature, target, chunk_rows=2, **options))


def rows(chunk: Chunk) -> tuple[int, list[int], list[float], list[float]]:
    return chunk.start, chunk.ids, chunk.x.tolist(), chunk.y.tolist()


def test_chunks_of_2_rows_keep_each_rows_start_and_index(tmp_path):
    got = in_pairs(write(tmp_path, HEADER + FIVE_ROWS))
    assert [rows(c) for c in got] == [
        (0, [100, 101], [1.0, 2.0], [0.0, 1.0]),
        (2, [102, 103], [2.5, 3.25], [1.0, 0.0]),
        (4, [104], [4.0], [1.0]),
    ]
    assert [(c.x.dtype.name, c.y.dtype.name) for c in got] == [("float64", "float64")] * 3  # "1", "2": float64 too


def test_without_an_index_column_samples_are_numbered_from_0_across_chunks(tmp_path):
    path = write(tmp_path, "mean_area,is_cancerous\n0.5,0\n1.5,1\n2.5,0\n3.5,1\n4.5,0\n")
    assert [c.ids for c in in_pairs(path)] == [[0, 1], [2, 3], [4]]


@pytest.mark.parametrize(
    "content, options, ids",
    [
        pytest.param(HEADER + FIVE_ROWS, {}, [100, 101, 102, 103, 104], id="first-header-cell-empty-is-the-index"),
        pytest.param("height,mean_area,is_cancerous\n1.7,1,0\n1.8,2,1\n", {}, [0, 1], id="a-named-first-column-is-not"),
        pytest.param(
            "age,mean_area,is_cancerous\n30,1,0\n40,2,1\n", {}, [0, 1], id="a-whole-number-first-column-neither"
        ),
        pytest.param(
            "age,mean_area,is_cancerous\n30,1,0\n40,2,1\n", {"index_col": "age"}, [30, 40], id="unless-index-col"
        ),
        pytest.param("mean_area,id,is_cancerous\n1,7,0\n2,9,1\n", {"index_col": "id"}, [7, 9], id="index-col-anywhere"),
        pytest.param(
            HEADER.replace(",", "n,", 1) + FIVE_ROWS, {"index_col": "n"}, [100, 101, 102, 103, 104], id="named-n"
        ),
    ],
)
def test_the_index_follows_pandas(tmp_path, content, options, ids):
    """pandas.read_csv(index_col=0) reads what to_csv wrote: the first column is the index when its header cell is
    empty (to_csv's own index); a named column is the index only when asked (--index-col)."""
    path = write(tmp_path, content)
    assert read(path, "mean_area", "is_cancerous", **options).ids == ids
    assert [i for c in in_pairs(path, **options) for i in c.ids] == ids  # across chunks too


def test_an_excel_export_with_a_bom_and_crlf_reads_like_a_plain_file(tmp_path):
    """Excel's "CSV UTF-8": a byte-order mark, CRLF line ends, no index column."""
    path = write(tmp_path, "\ufeffmean_area,is_cancerous\r\n1,0\r\n2.5,1\r\n".encode())
    assert header(path, "mean_area", "is_cancerous") == ["mean_area", "is_cancerous"], "the BOM is not in the name"
    assert rows(read(path, "mean_area", "is_cancerous")) == (0, [0, 1], [1.0, 2.5], [0.0, 1.0])


def test_read_and_concatenated_chunks_give_the_same_rows(tmp_path):
    path = write(tmp_path, HEADER + FIVE_ROWS)
    assert rows(read(path, "mean_area", "is_cancerous")) == FIVE_READ
    assert rows(concatenate(in_pairs(path))) == FIVE_READ


def test_nrows_stops_after_that_many_rows(tmp_path):
    path = write(tmp_path, HEADER + FIVE_ROWS)
    assert read(path, "mean_area", "is_cancerous", nrows=3).ids == [100, 101, 102]
    assert [c.ids for c in in_pairs(path, nrows=3)] == [[100, 101], [102]]


def test_head_keeps_the_first_rows_and_the_start(tmp_path):
    second = in_pairs(write(tmp_path, HEADER + FIVE_ROWS))[1]
    assert rows(second.head(1)) == (2, [102], [2.5], [1.0])
    assert rows(second.head(None)) == (2, [102, 103], [2.5, 3.25], [1.0, 0.0])


def test_windows_line_ends_read_like_unix_ones(tmp_path):
    path = write(tmp_path, (HEADER + FIVE_ROWS).replace("\n", "\r\n"))
    assert header(path, "mean_area", "is_cancerous") == ["", "mean_area", "is_cancerous"]  # the empty name kept
    assert rows(read(path, "mean_area", "is_cancerous")) == FIVE_READ


def test_the_callers_own_warnings_stay_warnings_while_it_iterates(tmp_path):
    """chunks turns pandas' ParserWarning into an error; that must not reach the caller's code between chunks."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for chunk in chunks(write(tmp_path, HEADER + FIVE_ROWS), "mean_area", "is_cancerous", chunk_rows=2):
            warnings.warn(f"the caller, at row {chunk.start}", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["the caller, at row 0", "the caller, at row 2", "the caller, at row 4"]


BAD_ROW_6 = HEADER + FIVE_ROWS  # then row 6, index 105: the second row of the third chunk
ROW_6 = "{path}: row 6 (index 105), column"
FINITE = "; every value must be a finite number"
NO_ROWS = "{path} has a header ('', 'mean_area', 'is_cancerous') but no rows"

# (id, file content, options, the whole message); {path} is the file's path
DATA_CASES = [
    ("empty-file", "", {}, "{path} is empty: expected a header line naming the columns, then one row per sample"),
    ("header-only", HEADER, {}, NO_ROWS),
    ("header-and-blank-lines", HEADER + "\n\n", {}, NO_ROWS),
    (
        "two-names-repeat",
        "id,b,a,b,a,mean_area,is_cancerous\n",
        {},
        "{path}: column names repeat: 'a', 'b'; each column needs its own name",
    ),
    (
        "misspelled-feature",
        HEADER + FIVE_ROWS,
        {"feature": "mean_aera"},
        "{path} has no column 'mean_aera' (--feature) (did you mean 'mean_area'?); "
        "its columns are: '', 'mean_area', 'is_cancerous'",
    ),
    (
        "missing-target",
        ",mean_area,label\n0,1.5,1\n",
        {},
        "{path} has no column 'is_cancerous' (--target); its columns are: '', 'mean_area', 'label'",
    ),
    (
        "semicolons",
        ";mean_area;is_cancerous\n0;1,5;1\n",
        {},
        "{path} looks semicolon-delimited (header ';mean_area;is_cancerous'): this tool reads comma-separated "
        "files; convert it, e.g. pandas.read_csv(path, sep=';').to_csv(new_path, index=False)",
    ),
    (
        "tabs",
        "\tmean_area\tis_cancerous\n0\t1.5\t1\n",
        {},
        "{path} looks tab-delimited (header '\\tmean_area\\tis_cancerous'): this tool reads comma-separated "
        "files; convert it, e.g. pandas.read_csv(path, sep='\\t').to_csv(new_path, index=False)",
    ),
    (
        "feature-is-target",
        HEADER + FIVE_ROWS,
        {"feature": "is_cancerous"},
        "--feature and --target are both 'is_cancerous': the target must be another column",
    ),
    (
        "first-row-longer-than-header",
        HEADER + "100,1,0,9\n",
        {},
        "{path} is not a well-formed CSV: Length of header or names does not match length of data. "
        "This leads to a loss of data with index_col=False.",
    ),
    (
        "later-row-longer-than-header",
        BAD_ROW_6 + "105,1,0,9\n",
        {},
        "{path} is not a well-formed CSV: Error tokenizing data. C error: Expected 3 fields in line 7, saw 4",
    ),
    ("feature-not-a-number", BAD_ROW_6 + "105,large,1\n", {}, ROW_6 + " 'mean_area' is 'large': not a number" + FINITE),
    ("feature-blank", BAD_ROW_6 + "105, ,1\n", {}, ROW_6 + " 'mean_area' is empty" + FINITE),
    (
        "feature-infinite",
        BAD_ROW_6 + "105,-Infinity,1\n",
        {},
        ROW_6 + " 'mean_area' is '-Infinity': not finite" + FINITE,
    ),
    ("target-not-a-number", BAD_ROW_6 + "105,1.5,yes\n", {}, ROW_6 + " 'is_cancerous' is 'yes': not a number" + FINITE),
    ("target-not-0-or-1", BAD_ROW_6 + "105,1.5,2\n", {}, ROW_6 + " 'is_cancerous' is '2': the target must be 0 or 1"),
    (
        "index-not-whole",
        BAD_ROW_6 + "105.5,1.5,0\n",
        {},
        "{path}: row 6, the first column (the sample index) is '105.5': not a whole number",
    ),
    (
        "index-not-a-number",
        BAD_ROW_6 + "abc,1.5,0\n",
        {},
        "{path}: row 6, the first column (the sample index) is 'abc': not a number" + FINITE,
    ),
    (
        "index-col-not-whole",
        "age,mean_area,is_cancerous\n30,1,0\n30.5,2,1\n",
        {"index_col": "age"},
        "{path}: row 2, column 'age' (--index-col) is '30.5': not a whole number",
    ),
    (
        "index-col-missing",
        "age,mean_area,is_cancerous\n30,1,0\n",
        {"index_col": "id"},
        "{path} has no column 'id' (--index-col); its columns are: 'age', 'mean_area', 'is_cancerous'",
    ),
    (
        "index-col-is-the-feature",
        "age,mean_area,is_cancerous\n30,1,0\n",
        {"index_col": "mean_area"},
        "--feature and --index-col are both 'mean_area': the sample index must be another column",
    ),
    (
        "index-col-is-the-target",
        "age,mean_area,is_cancerous\n30,1,0\n",
        {"index_col": "is_cancerous"},
        "--target and --index-col are both 'is_cancerous': the sample index must be another column",
    ),
]


@pytest.mark.parametrize("content, options, message", [pytest.param(*c[1:], id=c[0]) for c in DATA_CASES])
def test_bad_file_raises_data_error_with_the_whole_message(tmp_path, content, options, message):
    path = write(tmp_path, content)
    with pytest.raises(DataError) as caught:
        in_pairs(path, **options)
    assert str(caught.value) == message.format(path=path)


@pytest.mark.parametrize(
    "name, message", [("no_such.csv", "{path}: no such file"), ("", "{path} is a directory, not a CSV file")]
)
def test_a_path_that_is_no_file_is_named(tmp_path, name, message):
    with pytest.raises(DataError) as caught:
        read(tmp_path / name, "mean_area", "is_cancerous")
    assert str(caught.value) == message.format(path=tmp_path / name)


@pytest.fixture(params=[1, 2, 3, 5, csv_input.BLOCK_BYTES], ids=lambda n: f"blocks-of-{n}-bytes")
def small_blocks(request, monkeypatch):
    """count_lines reading a few bytes at a time: every line, character and bad byte falls across some block's end."""
    monkeypatch.setattr(csv_input, "BLOCK_BYTES", request.param)


@pytest.mark.parametrize(
    "content, lines",
    [
        pytest.param(b"a,b\n1,2\n", 2, id="newline-at-the-end"),
        pytest.param(b"a,b\n1,2", 2, id="no-newline-at-the-end"),
        pytest.param(b"a,b\r\n1,2\r\n", 2, id="windows-line-ends"),
        pytest.param("é,€\n1,2\n".encode(), 2, id="multibyte-characters"),
        pytest.param(b"\n\n", 2, id="blank-lines"),
        pytest.param(b"", 0, id="empty"),
    ],
)
def test_count_lines(tmp_path, small_blocks, content, lines):
    assert count_lines(write(tmp_path, content)) == lines


NOT_UTF_8 = "{path} is not UTF-8 text: byte 0x{byte:02x} on line {line}, column {column}; save it as UTF-8"


@pytest.mark.parametrize(
    "content, byte, line, column",
    [
        pytest.param(b"x,y\n" + "é,1\nab,2\n€€,".encode() + b"\xff\n", 0xFF, 4, 8, id="after-multibyte-characters"),
        pytest.param(b"1\n2\n3\n4\nab\xff\n", 0xFF, 5, 3, id="after-short-lines"),
        pytest.param(b"x\xff,y\n1,2\n", 0xFF, 1, 2, id="in-the-header"),
        pytest.param(b"ab\n\xff\n", 0xFF, 2, 1, id="first-on-its-line"),
        pytest.param(b"x,y\nab,\xe2\x82,1\n", 0xE2, 2, 4, id="a-character-cut-off-by-a-comma"),
        pytest.param(b"x,y\n1,\xe2\x82", 0xE2, 2, 3, id="a-character-cut-off-by-the-end-of-the-file"),
    ],
)
def test_a_byte_that_is_not_utf_8_is_placed_exactly(tmp_path, small_blocks, content, byte, line, column):
    path = write(tmp_path, content)
    with pytest.raises(DataError) as caught:
        count_lines(path)
    assert str(caught.value) == NOT_UTF_8.format(path=path, byte=byte, line=line, column=column)


def test_count_lines_holds_a_block_not_the_file(tmp_path, monkeypatch):
    block = 1 << 14
    monkeypatch.setattr(csv_input, "BLOCK_BYTES", block)
    path = write(tmp_path, b"1.5,0\n" * 100_000)  # 600 kB: 37 blocks
    tracemalloc.start()
    try:
        assert count_lines(path) == 100_000
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # a block's bytes and their decoded text: 2 blocks (37 kB measured); reading the whole file would be 1.2 MB
    assert peak < 4 * block, f"count_lines peaked at {peak} bytes on {block}-byte blocks, up to {4 * block} allowed"


# ----------------------------------------
# The bundled cell data set: the lesson's columns, its first rows, the Wisconsin set's size and balance.


def test_the_csv_has_the_lessons_shape():
    df = pd.read_csv(CELL_DATA, index_col=0)
    assert list(df.columns) == ["mean_area", "is_cancerous"]
    assert len(df) == 569 and list(df.index) == list(range(569))
    assert df.iloc[:2].values.tolist() == [[1.001, 1], [1.326, 1]]
    assert df.is_cancerous.value_counts().to_dict() == {0: 357, 1: 212}  # WDBC: 357 benign, 212 malignant


def test_loader_gives_one_value_per_sample():
    data = load_cell_data()
    assert data.X.shape == data.y.shape == (569,)
    assert data.ids[:3] == [0, 1, 2] and float(data.X[1]) == 1.326


# ----------------------------------------
# The two ways a chunk's numbers are read: pandas' C parser as float64 (the fast path), and as text, checked cell by
# cell (from the first chunk with a problem on, for its message). Both must give the same values, bit for bit.


def number_texts(seed: int, n: int) -> list[str]:
    """Every way a user's CSV writes a float: 17 significant digits, exponents, a sign, integers, subnormals."""
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(n) * 10.0 ** rng.integers(-30, 30, n)
    forms = [repr, lambda v: f"{v:.3f}", lambda v: f"{v:+.6e}", lambda v: f"{v:E}", lambda v: str(int(v * 1e3))]
    texts = [forms[i % len(forms)](float(v)) for i, v in enumerate(values)]
    return texts + ["5e-324", "-2.2250738585072014e-308", "1.7976931348623157e308", "0", "-0.0", "007"]


@pytest.mark.parametrize("seed", [pytest.param(s, id=f"seed{s}") for s in range(3)])
def test_the_fast_path_reads_the_numbers_the_text_path_reads(tmp_path, seed):
    texts = number_texts(seed, 2000)
    rows = "".join(f"{i},{x},{i % 2}\n" for i, x in enumerate(texts))
    path = write(tmp_path, HEADER + rows)
    fast = read(path, "mean_area", "is_cancerous")
    names = header(path, "mean_area", "is_cancerous")
    text = concatenate(list(text_chunks(path, names, "mean_area", "is_cancerous", "", None, CHUNK_ROWS, None, 0)))
    assert fast.ids == text.ids == list(range(len(texts)))
    assert fast.x.tobytes() == text.x.tobytes() and fast.y.tobytes() == text.y.tobytes()


def test_after_a_problem_the_text_path_takes_over_at_its_chunk(tmp_path, monkeypatch):
    """A cell the fast path cannot use (here 1e400, inf as float64) sends its chunk and the rest to the text path,
    which names it; the chunks before it come from the fast path, and none is given twice."""
    rows = "".join(f"{100 + i},{'1e400' if i == 7 else i + 0.5},{i % 2}\n" for i in range(12))
    path = write(tmp_path, HEADER + rows)
    seen = []
    with pytest.raises(DataError, match=r"row 8 \(index 107\), column 'mean_area' is '1e400': not a number"):
        for chunk in chunks(path, "mean_area", "is_cancerous", chunk_rows=3):
            seen.append(chunk.start)
    assert seen == [0, 3], "the chunks before the problem, once each"


@pytest.mark.parametrize("cell", ["TRUE", "false", "True"])
def test_a_boolean_cell_is_not_a_number_on_either_path(tmp_path, cell):
    """pandas reads TRUE/FALSE as 1/0 into a float64 column; a target must be written 0 or 1 (docs/cli.md)."""
    rows = "".join(f"{100 + i},{i + 0.5},{cell if i == 4 else i % 2}\n" for i in range(8))
    with pytest.raises(DataError, match=rf"row 5 \(index 104\), column 'is_cancerous' is '{cell}': not a number"):
        read(write(tmp_path, HEADER + rows), "mean_area", "is_cancerous")


def test_integer_columns_read_as_the_same_floats(tmp_path):
    rows = "".join(f"{i},{(i * 7919) % 10**6},{i % 2}\n" for i in range(50)) + "50,12345678901234567,1\n"
    chunk = read(write(tmp_path, HEADER + rows), "mean_area", "is_cancerous")
    assert chunk.x.dtype == np.float64 and chunk.x[-1] == float("12345678901234567") and chunk.ids[-1] == 50


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param("100,1,0\n101,abc,1\n102,2,1\n", id="text-path"),
        pytest.param("100,1,0\n101,2,1,9\n102,2,1\n", id="malformed"),
        pytest.param("100,1,0\n101,2,2\n", id="target-not-0-or-1"),
    ],
)
def test_a_refused_file_is_closed_not_left_to_the_garbage_collector(tmp_path, rows):
    """However the reading ends, the file is closed then: an unclosed one surfaces later as a ResourceWarning in
    whichever test happens to be running (it broke test_the_callers_own_warnings_... in CI, order-dependently)."""
    path = write(tmp_path, HEADER + rows)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(DataError):
            list(chunks(path, "mean_area", "is_cancerous", chunk_rows=1))
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
