"""The benchmark report: per-sample medians, ratios to the manual variant and to the two floors (Python floats,
machine code), targets met or missed;
the hidden-layer sweep's medians, ratios to autograd, crossovers, targets and figure.

The report is text for a reader, so the main tests state one small report of each kind to the character."""

import json
import sys

import pytest

from benchmarks import bench_report
from benchmarks.bench_report import (
    AUTOGRAD,
    FLOOR,
    FORWARD,
    GRAPH,
    LESSON,
    MACHINE_FLOOR,
    MANUAL,
    NN_SGD,
    VECTORIZED,
)


def bench(group, variant, us_per_sample, samples=569, role="", device="cpu", iqr_us=None, rounds=5):
    """One entry of pytest-benchmark's JSON as benchmarks/ writes it (pytest-benchmark's times are seconds per call)"""
    iqr_us = us_per_sample / 10 if iqr_us is None else iqr_us
    return {
        "group": f"{group} [{device}]",
        "stats": {"median": us_per_sample * samples / 1e6, "iqr": iqr_us * samples / 1e6, "rounds": rounds},
        "extra_info": {"group": group, "device": device, "variant": variant, "samples": samples, "role": role},
    }


def write(tmp_path, report, name="bench.json"):
    path = tmp_path / name
    path.write_text(json.dumps(report))
    return path


MACHINE = {"python_version": "3.11.7", "cpu": {"brand_raw": "AMD EPYC 7B13"}, "processor": "x86_64"}

# listed out of display order on purpose: the report orders groups as GROUP_ORDER, then devices by name,
# unknown groups last, and rows by median (not by IQR: the manual row has the largest IQR of its table)
REPORT = {
    "machine_info": MACHINE,
    "torch": "2.13.0",
    "numba": "0.68.1",
    "gpu": "NVIDIA H200",
    "datetime": "2025-01-02T03:04:05.678901",
    "benchmarks": [
        bench("data loading", "pandas.read_csv", 3),  # not in GROUP_ORDER, no manual variant
        bench("floor", FLOOR, 0.5, role="floor"),
        bench("all gradients", VECTORIZED, 0.06, role="manual"),  # 1.5× the forward pass: within its 2×, met
        bench("floor", MACHINE_FLOOR, 0.0125, role="machine floor", iqr_us=0.001),  # 1/40 of the Python floor
        bench("all gradients", FORWARD, 0.04, role="forward"),
        bench("epoch", MANUAL, 20, role="manual", device="cuda"),
        bench("epoch", AUTOGRAD, 60, device="cuda"),
        bench("epoch", NN_SGD, 39, iqr_us=2),  # 3.9× manual: just below its target of 4×
        bench("epoch", AUTOGRAD, 25, iqr_us=1),  # exactly 2.5× manual: its target, met
        bench("epoch", MANUAL, 10, iqr_us=5, role="manual"),
        bench("step", GRAPH, 2, samples=1, device="cuda", rounds=1000),
        bench("step", MANUAL, 8, samples=1, role="manual", device="cuda", rounds=1000),
    ],
}

HEADER = """\
| variant | median µs/sample | IQR µs/sample | × manual | × Python floor | × machine floor | calls |
|---|---:|---:|---:|---:|---:|---:|"""

EXPECTED = f"""\
torch 2.13.0, numba 0.68.1, NVIDIA H200, Python 3.11.7, AMD EPYC 7B13; 2025-01-02T03:04:05.678901

### step [cuda]

{HEADER}
| {GRAPH} | 2 | 0.2 | 0.25 | 4 | 160 | 1000 |
| {MANUAL} | 8 | 0.8 | 1.00 | 16 | 640 | 1000 |

### epoch [cpu]

{HEADER}
| {MANUAL} | 10 | 5 | 1.00 | 20 | 800 | 5 |
| {AUTOGRAD} | 25 | 1 | 2.50 | 50 | 2,000 | 5 |
| {NN_SGD} | 39 | 2 | 3.90 | 78 | 3,120 | 5 |

### epoch [cuda]

{HEADER}
| {MANUAL} | 20 | 2 | 1.00 | 40 | 1,600 | 5 |
| {AUTOGRAD} | 60 | 6 | 3.00 | 120 | 4,800 | 5 |

### all gradients [cpu]

{HEADER}
| {FORWARD} | 0.04 | 0.004 | 0.67 | 0.08 | 3.2 | 5 |
| {VECTORIZED} | 0.06 | 0.006 | 1.00 | 0.12 | 4.8 | 5 |

### floor [cpu]

{HEADER}
| {MACHINE_FLOOR} | 0.0125 | 0.001 | – | 0.025 | 1 | 5 |
| {FLOOR} | 0.5 | 0.05 | – | 1 | 40 | 5 |

### data loading [cpu]

{HEADER}
| pandas.read_csv | 3 | 0.3 | – | 6 | 240 | 5 |

### targets

| device | ratio | measured | target | |
|---|---|---:|---:|---|
| cpu | manual loop vs plain autograd | 2.5× | ≥ 2.5× | met |
| cpu | manual loop vs torch.nn + SGD | 3.9× | ≥ 4× | MISSED |
| cpu | all-sample vectorized gradients vs one vectorized forward pass | 1.5× | ≤ 2× | met |
| cpu | manual loop's distance to the Python floor | 20× |  |  |
| cpu | manual loop's distance to the machine floor | 800× |  |  |
| cpu | Python floor's distance to the machine floor | 40× |  |  |
| cuda | manual loop vs plain autograd | 3× | ≥ 2.5× | met |
| cuda | CUDA graph replay vs eager manual step | 4× | ≥ 3× | met |
| cuda | manual loop's distance to the Python floor | 40× |  |  |
| cuda | manual loop's distance to the machine floor | 1,600× |  |  |"""


def test_report_renders_to_the_character(tmp_path):
    # cuda's ratios use cuda's manual (3.0×, not 60/10 = 6.0×); the floors, measured under cpu only, serve cuda too,
    # but the ratio of the two floors is the CPU's: stated once, under cpu
    assert bench_report.render(bench_report.load(write(tmp_path, REPORT))) == EXPECTED


def test_main_prints_the_report_and_succeeds(tmp_path, capsys):
    assert bench_report.main([str(write(tmp_path, REPORT))]) == 0
    assert capsys.readouterr().out == EXPECTED + "\n"


def test_help_names_the_command_shows_the_usage_example_and_the_argument(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # no wrapping of the argument's help
    with pytest.raises(SystemExit) as exit_:
        bench_report.main(["--help"])
    assert exit_.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "usage: python -m benchmarks.bench_report [-h] [--output MD] [--figure PNG] [--verifier-figure PNG] json"
    )
    # the docstring's usage lines keep their own lines and indent
    assert "    pytest benchmarks --benchmark-json=bench.json" in lines
    assert "    python -m benchmarks.bench_report bench.json" in lines
    argument = "json the file written by pytest benchmarks --benchmark-json=FILE"
    assert any(line.split() == argument.split() for line in lines)


@pytest.mark.parametrize(
    "report, first_line",
    [
        (
            {"torch": "2.13.0", "gpu": "NVIDIA H200", "machine_info": MACHINE, "datetime": "2025-01-02"},
            "torch 2.13.0, NVIDIA H200, Python 3.11.7, AMD EPYC 7B13; 2025-01-02",
        ),
        (
            {"machine_info": {"python_version": "3.11.7", "processor": "x86_64"}},
            "torch ?, no GPU, Python 3.11.7, x86_64; ",
        ),
        ({}, "torch ?, no GPU, Python ?, ?; "),
        ({"torch": "2.13.0", "numba": "not installed"}, "torch 2.13.0, numba not installed, no GPU, Python ?, ?; "),
    ],
    ids=["cpu-brand-over-processor", "processor-when-no-cpu-brand", "nothing-known", "numba-not-installed"],
)
def test_first_line_names_the_machine_with_question_marks_for_what_is_unknown(report, first_line):
    report = {**report, "benchmarks": [bench("epoch", MANUAL, 10, role="manual")]}
    assert bench_report.render(report).split("\n")[0] == first_line


def test_without_floors_or_manual_the_ratios_are_dashes_and_the_floor_targets_are_absent():
    text = bench_report.render({"benchmarks": [bench("epoch", AUTOGRAD, 40), bench("epoch", NN_SGD, 50)]})
    assert text.split("\n")[6:] == [
        f"| {AUTOGRAD} | 40 | 4 | – | – | – | 5 |",
        f"| {NN_SGD} | 50 | 5 | – | – | – | 5 |",
        "",
        "### targets",
        "",
        "| device | ratio | measured | target | |",
        "|---|---|---:|---:|---|",
    ]


@pytest.mark.parametrize(
    "gradients_us, row",
    [
        (0.08, "| cpu | all-sample vectorized gradients vs one vectorized forward pass | 2× | ≤ 2× | met |"),
        (0.082, "| cpu | all-sample vectorized gradients vs one vectorized forward pass | 2.05× | ≤ 2× | MISSED |"),
        (0.03, "| cpu | all-sample vectorized gradients vs one vectorized forward pass | 0.75× | ≤ 2× | met |"),
    ],
    ids=["exactly-2x-is-met", "over-2x-is-missed", "faster-than-the-forward"],
)
def test_vectorized_gradients_are_held_to_at_most_twice_one_forward_pass(gradients_us, row):
    text = bench_report.render(
        {
            "benchmarks": [
                bench("all gradients", VECTORIZED, gradients_us, role="manual"),
                bench("all gradients", FORWARD, 0.04, role="forward"),
            ]
        }
    )
    assert text.split("\n")[-1] == row


def test_the_floors_distances_manual_to_each_floor_and_one_floor_to_the_other():
    text = bench_report.render(
        {
            "benchmarks": [
                bench("epoch", MANUAL, 10, role="manual"),
                bench("floor", FLOOR, 0.2, role="floor"),
                bench("floor", MACHINE_FLOOR, 0.008, role="machine floor"),
            ]
        }
    )
    assert text.split("\n")[-3:] == [
        "| cpu | manual loop's distance to the Python floor | 50× |  |  |",
        "| cpu | manual loop's distance to the machine floor | 1,250× |  |  |",
        "| cpu | Python floor's distance to the machine floor | 25× |  |  |",
    ]
    assert f"| {MANUAL} | 10 | 1 | 1.00 | 50 | 1,250 | 5 |" in text


def test_a_ratio_just_short_of_its_target_is_not_rounded_onto_it_and_a_large_iqr_has_no_exponent():
    text = bench_report.render(
        {
            "benchmarks": [
                bench("epoch", MANUAL, 10, role="manual"),
                bench("epoch", LESSON, 13.66, iqr_us=130),  # 1.366×: ".1f" printed it as the target's 1.4
            ]
        }
    )
    assert f"| {LESSON} | 13.66 | 130 | 1.37 | – | – | 5 |" in text
    assert text.split("\n")[-1] == "| cpu | manual loop vs the lesson's loop as written | 1.37× | ≥ 1.4× | MISSED |"


def test_without_numba_the_machine_floor_column_is_dashes_and_its_targets_are_absent():
    """The extra numba not installed: benchmarks/ skips the machine floor, and the report says nothing false."""
    text = bench_report.render(
        {"benchmarks": [bench("epoch", MANUAL, 10, role="manual"), bench("floor", FLOOR, 0.2, role="floor")]}
    )
    assert f"| {MANUAL} | 10 | 1 | 1.00 | 50 | – | 5 |" in text
    assert "machine floor |" not in text.split("### targets")[1]


@pytest.mark.parametrize(
    "ratio, text",
    [(0.025, "0.025"), (4.0, "4"), (43.44, "43.4"), (99.94, "99.9"), (100.4, "100"), (1402.3, "1,402")],
    ids=["below-1", "whole", "three-digits", "just-below-100", "100", "thousands"],
)
def test_ratios_to_the_floors_keep_three_digits_and_whole_numbers_from_100(ratio, text):
    assert bench_report.times(ratio) == text


def test_a_device_without_its_own_measurement_is_not_compared_with_the_cpus():
    """Only the floors (plain Python and numba, device-free) are borrowed from cpu; cuda's vectorized gradients are
    never set against the cpu's forward pass."""
    text = bench_report.render(
        {
            "benchmarks": [
                bench("epoch", MANUAL, 10, role="manual", device="cuda"),
                bench("all gradients", VECTORIZED, 0.06, role="manual", device="cuda"),
                bench("all gradients", FORWARD, 0.04, role="forward", device="cpu"),
                bench("floor", FLOOR, 0.2, role="floor", device="cpu"),
                bench("floor", MACHINE_FLOOR, 0.008, role="machine floor", device="cpu"),
            ]
        }
    )
    assert text.split("### targets")[1].split("\n")[4:] == [
        "| cpu | Python floor's distance to the machine floor | 25× |  |  |",
        "| cuda | manual loop's distance to the Python floor | 50× |  |  |",
        "| cuda | manual loop's distance to the machine floor | 1,250× |  |  |",
    ]


def test_per_sample_is_a_calls_median_and_iqr_divided_by_its_samples_in_microseconds():
    call = {"stats": {"median": 0.5, "iqr": 0.25}, "extra_info": {"samples": 4}}
    assert bench_report.per_sample(call) == (125_000.0, 62_500.0)  # exact in binary floating point


def test_load_keeps_only_the_benchmarks_labelled_by_benchmarks_and_the_rest_of_the_json(tmp_path):
    labelled = {"stats": {}, "extra_info": {"group": "epoch", "device": "cpu", "samples": 569}}  # the three it needs
    others = [
        {"stats": {}},  # a plain pytest-benchmark test, no extra_info
        {"stats": {}, "extra_info": {"group": "epoch", "device": "cpu"}},  # no samples: no per-sample time
    ]
    path = write(tmp_path, {"machine_info": MACHINE, "benchmarks": [others[0], labelled, others[1]]})
    assert bench_report.load(path) == {"machine_info": MACHINE, "benchmarks": [labelled]}


@pytest.mark.parametrize(
    "report",
    [{"benchmarks": []}, {"machine_info": MACHINE}, {"benchmarks": [{"stats": {}}]}],
    ids=["no-benchmarks", "no-benchmarks-key", "only-unlabelled-benchmarks"],
)
def test_a_json_without_our_benchmarks_is_a_clear_error(tmp_path, report):
    path = write(tmp_path, report, name="other.json")
    with pytest.raises(SystemExit, match=r"other\.json has no benchmarks from benchmarks/ \(run with --benchmark-json"):
        bench_report.load(path)


@pytest.mark.parametrize("content", [None, "{not json"], ids=["missing-file", "bad-json"])
def test_an_unreadable_file_is_a_clear_error(tmp_path, content):
    path = tmp_path / "bench.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SystemExit, match=r"^error: cannot read pytest-benchmark JSON from .*bench\.json: "):
        bench_report.load(path)


# The hidden-layer sweep (benchmarks/test_bench_sweep.py)


def sweep(variant, N, H, us, device="cpu"):
    """One sweep entry as benchmarks/test_bench_sweep.py writes it: one call is one step, its median in seconds"""
    return {
        "group": f"sweep-{device}-N{N}",
        "stats": {"median": us / 1e6, "iqr": us / 1e7, "rounds": 5},
        "extra_info": {"sweep": "hidden", "device": device, "variant": variant, "N": N, "H": H, "d": 30},
    }


def medians(*cells):
    """{(device, variant, N, H): seconds} from (variant, N, H, µs[, device]) cells"""
    return bench_report.sweep_medians([sweep(*c) for c in cells])


# out of order on purpose: the tables order N and H by size and the variants as SWEEP_VARIANTS
SWEEP_CELLS = [
    ("func", 569, 1024, 2500),
    ("manual", 569, 1024, 3000),  # 1.2 × autograd: the matmul-bound target (≤ 1.1) missed
    ("autograd", 569, 1024, 2500),
    ("manual", 1, 1024, 300),  # exactly autograd's: manual has stopped beating it at H = 1024
    ("autograd", 1, 1024, 300),
    ("func", 1, 1024, 450),
    ("manual", 1, 1, 50),  # 4× faster than autograd: the overhead-bound target (≥ 3×) met
    ("autograd", 1, 1, 200),
    ("func", 1, 1, 500),
    ("manual", 569, 1, 100),
    ("autograd", 569, 1, 400),
    ("func", 569, 1, 1000),
]
SWEEP_REPORT = {
    "machine_info": MACHINE,
    "torch": "2.13.0",
    "gpu": "no GPU",
    "datetime": "2025-01-02",
    "torch_threads": 1,  # benchmarks/conftest.py writes it
    "benchmarks": [sweep(*c) for c in SWEEP_CELLS],
}
M, A, F = (bench_report.SWEEP_VARIANTS[v] for v in ("manual", "autograd", "func"))
CROSSOVERS = (
    "| N | manual ≥ autograd [cpu] | manual ≥ autograd [cuda] "
    "| GPU < CPU [manual] | GPU < CPU [autograd] | GPU < CPU [func] |"
)

SWEEP_EXPECTED = f"""\
torch 2.13.0, no GPU, Python 3.11.7, AMD EPYC 7B13; 2025-01-02

## sweep: one training step of the hidden layer, d → H → 1

torch's CPU ops on 1 thread (torch.get_num_threads())

![median time per step against H, log-log, per variant and N](bench-sweep.png)

### sweep [cpu]: median µs per step

| N | variant | H = 1 | H = 1024 |
|---:|---|---:|---:|
| 1 | {M} | 50 | 300 |
| 1 | {A} | 200 | 300 |
| 1 | {F} | 500 | 450 |
| 569 | {M} | 100 | 3,000 |
| 569 | {A} | 400 | 2,500 |
| 569 | {F} | 1,000 | 2,500 |

### sweep [cpu]: time / autograd's (below 1: faster than autograd)

| N | variant | H = 1 | H = 1024 |
|---:|---|---:|---:|
| 1 | {M} | 0.25 | 1.00 |
| 1 | {F} | 2.50 | 1.50 |
| 569 | {M} | 0.25 | 1.20 |
| 569 | {F} | 2.50 | 1.00 |

### sweep: crossovers

manual ≥ autograd: the smallest H where manual's step takes at least autograd's (manual / autograd there). \
GPU < CPU: the smallest H where the variant's CUDA step is faster than its CPU step (CPU / CUDA there).

{CROSSOVERS}
|---:|---|---|---|---|---|
| 1 | 1024 (1.00×) | not measured | not measured | not measured | not measured |
| 569 | 1024 (1.20×) | not measured | not measured | not measured | not measured |

### sweep: targets

| device | target | cells | worst manual / autograd | target | |
|---|---|---:|---:|---:|---|
| cpu | manual vs autograd, overhead-bound: N = 1, H ≤ 16 | 1 | 0.25 (4.0× faster) | 0.33 (3.0× faster) | met |
| cpu | manual vs autograd, matmul-bound: N ≥ 569, H ≥ 1024 | 1 | 1.20 | 1.10 | MISSED |"""


@pytest.fixture
def imread():
    """matplotlib's PNG reader; the tests that draw are skipped where the extra plot is not installed"""
    return pytest.importorskip(
        "matplotlib.image", reason="the figure needs the extra plot: pip install -e '.[plot]'"
    ).imread


PANEL = (440 + 240, 520)  # pixels (rows, columns) of a device's column, times over ratios: SWEEP_DPI × the sizes
LEGEND = 240  # pixels: LEGEND_WIDTH at SWEEP_DPI


def test_sweep_renders_to_the_character():
    assert bench_report.render(SWEEP_REPORT, figure="bench-sweep.png") == SWEEP_EXPECTED


def test_main_writes_the_markdown_and_the_figure_beside_it(tmp_path, imread):
    md = tmp_path / "bench.md"
    assert bench_report.main([str(write(tmp_path, SWEEP_REPORT)), "--output", str(md)]) == 0
    assert md.read_text() == SWEEP_EXPECTED + "\n"
    image = imread(tmp_path / "bench-sweep.png")
    assert image.shape == (PANEL[0], PANEL[1] + LEGEND, 4)  # one panel (cpu) and the legend; RGBA
    assert image[..., :3].std() > 0.05  # something is drawn: not a blank canvas


def test_figure_is_linked_relative_to_the_markdown(tmp_path, imread):
    (tmp_path / "docs").mkdir()
    (tmp_path / "img").mkdir()
    md, png = tmp_path / "docs" / "sweep.md", tmp_path / "img" / "sweep_cpu.png"
    bench_report.main([str(write(tmp_path, SWEEP_REPORT)), "-o", str(md), "--figure", str(png)])
    assert "](../img/sweep_cpu.png)" in md.read_text()
    assert imread(png).shape == (PANEL[0], PANEL[1] + LEGEND, 4)
    assert not (tmp_path / "docs" / "sweep-sweep.png").exists()  # --figure replaces the default, not adds to it


def test_printing_links_the_figure_as_given_and_draws_none_unless_asked(tmp_path, monkeypatch, capsys, imread):
    monkeypatch.chdir(tmp_path)
    path = str(write(tmp_path, SWEEP_REPORT))
    bench_report.main([path])
    assert "![" not in capsys.readouterr().out
    assert list(tmp_path.glob("*.png")) == []
    (tmp_path / "out").mkdir()
    bench_report.main([path, "--figure", "out/s.png"])
    assert "](out/s.png)" in capsys.readouterr().out
    assert (tmp_path / "out" / "s.png").stat().st_size > 0


def test_a_figure_of_a_json_without_the_sweep_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        bench_report.main([str(write(tmp_path, REPORT)), "--figure", str(tmp_path / "s.png")])
    assert exit_.value.code == 2
    assert "bench.json has no sweep to draw (pytest benchmarks/test_bench_sweep.py" in capsys.readouterr().err
    assert not (tmp_path / "s.png").exists()


def test_without_matplotlib_the_figure_is_a_usage_error_that_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    for name in ("matplotlib", "matplotlib.figure"):  # even where an earlier test has imported them
        monkeypatch.setitem(sys.modules, name, None)  # import matplotlib... raises ImportError
    with pytest.raises(SystemExit) as exit_:
        bench_report.main([str(write(tmp_path, SWEEP_REPORT)), "-o", str(tmp_path / "bench.md")])
    assert exit_.value.code == 2
    assert "the sweep's figure needs matplotlib, which is not installed: pip install" in capsys.readouterr().err
    assert not (tmp_path / "bench.md").exists()  # no Markdown linking a figure that is not there


def test_the_loop_and_the_sweep_in_one_json_are_both_rendered_the_loop_first(tmp_path):
    both = {**REPORT, "benchmarks": REPORT["benchmarks"] + SWEEP_REPORT["benchmarks"]}
    text = bench_report.render(bench_report.load(write(tmp_path, both)))
    loop, sweep_ = text.split("\n\n## sweep: one training step of the hidden layer, d → H → 1\n\n")
    assert loop == EXPECTED
    # REPORT has no torch_threads and no figure was asked for: neither line
    assert sweep_ == SWEEP_EXPECTED.split("bench-sweep.png)\n\n")[1]


def test_load_keeps_the_sweep_entries_that_have_all_the_keys_it_needs(tmp_path):
    kept = sweep("manual", 1, 16, 80)
    lacking_H = sweep("manual", 1, 16, 80)
    del lacking_H["extra_info"]["H"]
    other_sweep = sweep("manual", 1, 16, 80)
    other_sweep["extra_info"]["sweep"] = "softmax"  # not a sweep this report knows
    path = write(tmp_path, {"benchmarks": [lacking_H, kept, other_sweep]})
    assert bench_report.load(path)["benchmarks"] == [kept]


@pytest.mark.parametrize(
    "manual_us, expected",
    [
        ((50, 100, 150), None),  # faster than autograd's 160 at every H
        ((50, 160, 150), (16, 1.0)),  # equal is not beating: the crossover
        ((50, 200, 150), (16, 1.25)),  # the first H at or above 1, even where noise puts the next one below
        ((320, 100, 150), (1, 2.0)),  # never faster
    ],
    ids=["never-stops-beating", "equal-is-the-crossover", "the-smallest-H-counts", "slower-from-the-first-H"],
)
def test_manual_crossover_is_the_smallest_H_where_manual_takes_at_least_autograds_time(manual_us, expected):
    cells = [("autograd", 8, H, 160) for H in (1, 16, 256)]
    cells += [("manual", 8, H, us) for H, us in zip((1, 16, 256), manual_us, strict=True)]
    assert bench_report.manual_crossover(medians(*cells), "cpu", 8) == expected


@pytest.mark.parametrize(
    "cuda_us, expected",
    [
        ((900, 800, 400), (256, 2.0)),  # cpu 800 at H = 256: 2× faster on the GPU
        ((900, 400, 800), None),  # equal is not faster
        ((900, 800, None), None),  # the GPU's H = 256 not measured: nothing to compare there
        ((50, 800, 400), (1, 2.0)),  # faster from the first H on
    ],
    ids=["faster-from-256", "equal-is-not-faster", "unmeasured-H-is-skipped", "faster-from-the-first-H"],
)
def test_gpu_crossover_is_the_smallest_H_where_cuda_is_faster_than_the_cpu(cuda_us, expected):
    cpu = [("manual", 569, H, us) for H, us in zip((1, 16, 256), (100, 400, 800), strict=True)]
    cuda = [("manual", 569, H, us, "cuda") for H, us in zip((1, 16, 256), cuda_us, strict=True) if us is not None]
    assert bench_report.gpu_crossover(medians(*cpu, *cuda), "manual", 569) == expected


def test_with_cuda_figures_the_crossovers_name_where_the_gpu_starts_beating_the_cpu():
    cells = []
    for device, scale in (("cpu", 1), ("cuda", 4)):  # the GPU: 4× the CPU's time at H = 1, falling to 1/4 at 1024
        cells += [("manual", 1, 1, 10 * scale, device), ("autograd", 1, 1, 40 * scale, device)]
        cells += [("manual", 1, 1024, 8000 / scale, device), ("autograd", 1, 1024, 4000 / scale, device)]
    lines = bench_report.crossovers(medians(*cells))
    assert lines[-3:] == [
        "| N | manual ≥ autograd [cpu] | manual ≥ autograd [cuda] | GPU < CPU [manual] | GPU < CPU [autograd] |",
        "|---:|---|---|---|---|",
        "| 1 | 1024 (2.00×) | 1024 (2.00×) | 1024 (4.0×) | 1024 (4.0×) |",  # one column per variant measured
    ]


def test_sweep_targets_allow_exactly_their_bounds_and_say_what_was_not_measured():
    at_bounds = medians(
        ("manual", 1, 1, 1.0),
        ("autograd", 1, 1, 3.0),  # manual / autograd = 1/3: 3× faster, exactly
        ("manual", 1, 16, 1.0),
        ("autograd", 1, 16, 4.0),  # better: the worst of the two counts
        ("manual", 8192, 4096, 1.1),
        ("autograd", 8192, 4096, 1.0),  # 1.1, exactly
    )
    assert bench_report.sweep_targets(at_bounds)[4:] == [
        "| cpu | manual vs autograd, overhead-bound: N = 1, H ≤ 16 | 2 "
        "| 0.33 (3.0× faster) | 0.33 (3.0× faster) | met |",
        "| cpu | manual vs autograd, matmul-bound: N ≥ 569, H ≥ 1024 | 1 | 1.10 | 1.10 | met |",
    ]
    small_only = medians(("manual", 1, 1, 1.0), ("autograd", 1, 1, 2.0))
    assert bench_report.sweep_targets(small_only)[-1] == (
        "| cpu | manual vs autograd, matmul-bound: N ≥ 569, H ≥ 1024 | 0 | – | 1.10 | not measured |"
    )


def test_sweep_lines_are_one_per_variant_and_N_per_device_skipping_unmeasured_cells():
    m = medians(
        ("autograd", 1, 4, 20.0),
        ("manual", 1, 1, 5.0),
        ("manual", 1, 4, 6.0),
        ("manual", 32, 4, 7.0),
        ("manual", 1, 1, 9.0, "cuda"),
    )
    assert bench_report.sweep_lines(m) == {
        "cpu": [
            ("manual", 1, [1, 4], [5e-6, 6e-6]),
            ("manual", 32, [4], [7e-6]),  # H = 1 not measured at N = 32: not drawn as 0
            ("autograd", 1, [4], [2e-5]),
        ],
        "cuda": [("manual", 1, [1], [9e-6])],
    }


def test_the_figure_has_a_column_per_device_times_over_ratios_a_line_per_variant_and_N(tmp_path, imread):
    cells = [
        (v, N, H, 10.0 * N * H, d)
        for d in ("cpu", "cuda")
        for v in ("manual", "autograd", "func")
        for N in (1, 569)
        for H in (1, 16, 1024)
    ]
    fig = bench_report.plot_sweep(tmp_path / "both.png", medians(*cells))
    top, bottom = fig.axes[:2], fig.axes[2:]  # row by row
    assert [ax.get_title() for ax in top] == ["cpu", "cuda"]
    assert [len(ax.get_lines()) for ax in top] == [6, 6]  # 3 variants × 2 N
    assert [len(ax.get_lines()) for ax in bottom] == [5, 5]  # manual and func × 2 N, and autograd's 1×
    assert [ax.get_lines()[-1].get_ydata()[0] for ax in bottom] == [1, 1]
    assert {ax.get_xscale() for ax in fig.axes} == {ax.get_yscale() for ax in fig.axes} == {"log"}
    assert bottom[0].get_ylim() == (0.5, 2)  # every ratio here is exactly 1: a power of 2 either side
    assert "not measured" not in fig.get_suptitle()
    assert imread(tmp_path / "both.png").shape == (PANEL[0], 2 * PANEL[1] + LEGEND, 4)
    cpu_only = bench_report.plot_sweep(tmp_path / "cpu.png", medians(*(c for c in cells if c[4] == "cpu")))
    assert cpu_only.get_suptitle().endswith("\ncuda: not measured")


def test_the_ratio_lines_are_each_variants_time_over_autograds_where_both_are_measured():
    m = medians(
        ("autograd", 1, 1, 4.0),
        ("autograd", 1, 4, 8.0),
        ("manual", 1, 1, 1.0),
        ("manual", 1, 4, 16.0),
        ("func", 1, 1, 8.0),
        ("func", 32, 1, 8.0),  # no autograd at N = 32: no ratio, no line
    )
    assert bench_report.sweep_lines(m, over_autograd=True) == {
        "cpu": [("manual", 1, [1, 4], [0.25, 2.0]), ("func", 1, [1], [2.0])],
    }


@pytest.mark.parametrize(
    "seconds, text",
    [(1.0, "1 s"), (0.01, "10 ms"), (1e-4, "100 µs"), (1e-6, "1 µs"), (2.5e-8, "25 ns")],
    ids=["1s", "10ms", "100us", "1us", "25ns"],
)
def test_the_time_axis_ticks_use_the_unit_that_keeps_them_short(seconds, text):
    assert bench_report.seconds_label(seconds) == text
