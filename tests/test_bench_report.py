"""The benchmark report: per-sample medians, ratios to the manual variant and to the floor, targets met or missed.

The report is text for a reader, so the main test states one small report to the character."""

import json

import pytest

from backprop_manual import bench_report
from backprop_manual.bench_report import AUTOGRAD, FLOOR, GRAPH, MANUAL, NN_SGD, VECTORIZED


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
    "gpu": "NVIDIA H200",
    "datetime": "2025-01-02T03:04:05.678901",
    "benchmarks": [
        bench("data loading", "pandas.read_csv", 3),  # not in GROUP_ORDER, no manual variant
        bench("floor", FLOOR, 0.5, role="floor"),
        bench("epoch", MANUAL, 20, role="manual", device="cuda"),
        bench("epoch", AUTOGRAD, 60, device="cuda"),
        bench("epoch", NN_SGD, 39, iqr_us=2),  # 3.9× manual: just below its target of 4×
        bench("epoch", AUTOGRAD, 25, iqr_us=1),  # exactly 2.5× manual: its target, met
        bench("epoch", MANUAL, 10, iqr_us=5, role="manual"),
        bench("step", GRAPH, 2, samples=1, device="cuda", rounds=1000),
        bench("step", MANUAL, 8, samples=1, role="manual", device="cuda", rounds=1000),
    ],
}

EXPECTED = f"""\
torch 2.13.0, NVIDIA H200, Python 3.11.7, AMD EPYC 7B13; 2025-01-02T03:04:05.678901

### step [cuda]

| variant | median µs/sample | IQR µs/sample | × manual | × floor | calls |
|---|---:|---:|---:|---:|---:|
| {GRAPH} | 2 | 0.2 | 0.25 | 4.0 | 1000 |
| {MANUAL} | 8 | 0.8 | 1.00 | 16.0 | 1000 |

### epoch [cpu]

| variant | median µs/sample | IQR µs/sample | × manual | × floor | calls |
|---|---:|---:|---:|---:|---:|
| {MANUAL} | 10 | 5 | 1.00 | 20.0 | 5 |
| {AUTOGRAD} | 25 | 1 | 2.50 | 50.0 | 5 |
| {NN_SGD} | 39 | 2 | 3.90 | 78.0 | 5 |

### epoch [cuda]

| variant | median µs/sample | IQR µs/sample | × manual | × floor | calls |
|---|---:|---:|---:|---:|---:|
| {MANUAL} | 20 | 2 | 1.00 | 40.0 | 5 |
| {AUTOGRAD} | 60 | 6 | 3.00 | 120.0 | 5 |

### floor [cpu]

| variant | median µs/sample | IQR µs/sample | × manual | × floor | calls |
|---|---:|---:|---:|---:|---:|
| {FLOOR} | 0.5 | 0.05 | – | 1.0 | 5 |

### data loading [cpu]

| variant | median µs/sample | IQR µs/sample | × manual | × floor | calls |
|---|---:|---:|---:|---:|---:|
| pandas.read_csv | 3 | 0.3 | – | 6.0 | 5 |

### targets

| device | ratio | measured | target | |
|---|---|---:|---:|---|
| cpu | manual loop vs plain autograd | 2.5× | ≥ 2.5× | met |
| cpu | manual loop vs torch.nn + SGD | 3.9× | ≥ 4× | MISSED |
| cpu | manual loop's distance to the floor | 20.0× |  |  |
| cuda | manual loop vs plain autograd | 3.0× | ≥ 2.5× | met |
| cuda | CUDA graph replay vs eager manual step | 4.0× | ≥ 3× | met |
| cuda | manual loop's distance to the floor | 40.0× |  |  |"""


def test_report_renders_to_the_character(tmp_path):
    # cuda's ratios use cuda's manual (3.0×, not 60/10 = 6.0×); the floor, measured under cpu only, serves cuda too
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
    assert lines[0] == "usage: python -m backprop_manual.bench_report [-h] json"
    # the docstring's usage lines keep their own lines and indent
    assert "    pytest benchmarks --benchmark-json=bench.json" in lines
    assert "    python -m backprop_manual.bench_report bench.json" in lines
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
    ],
    ids=["cpu-brand-over-processor", "processor-when-no-cpu-brand", "nothing-known"],
)
def test_first_line_names_the_machine_with_question_marks_for_what_is_unknown(report, first_line):
    report = {**report, "benchmarks": [bench("epoch", MANUAL, 10, role="manual")]}
    assert bench_report.render(report).split("\n")[0] == first_line


def test_without_floor_or_manual_the_ratios_are_dashes_and_the_floor_target_is_absent():
    text = bench_report.render({"benchmarks": [bench("epoch", AUTOGRAD, 40), bench("epoch", NN_SGD, 50)]})
    assert text.split("\n")[6:] == [
        f"| {AUTOGRAD} | 40 | 4 | – | – | 5 |",
        f"| {NN_SGD} | 50 | 5 | – | – | 5 |",
        "",
        "### targets",
        "",
        "| device | ratio | measured | target | |",
        "|---|---|---:|---:|---|",
    ]


def test_vectorized_target_and_the_floors_distance():
    text = bench_report.render(
        {
            "benchmarks": [
                bench("epoch", MANUAL, 10, role="manual"),
                bench("all gradients", VECTORIZED, 0.01, role="manual"),  # 10 ns per sample
                bench("floor", FLOOR, 0.2, role="floor"),
            ]
        }
    )
    assert "| cpu | all 569 gradients vectorized vs the manual loop | 1000.0× | ≥ 500× | met |" in text
    assert "| cpu | manual loop's distance to the floor | 50.0× |  |  |" in text


def test_a_device_without_its_own_measurement_is_not_compared_with_the_cpus():
    """Only the floor (plain Python, device-free) is borrowed from cpu; a cuda manual loop is never set against
    the cpu's vectorized gradients."""
    text = bench_report.render(
        {
            "benchmarks": [
                bench("epoch", MANUAL, 10, role="manual", device="cuda"),
                bench("all gradients", VECTORIZED, 0.01, role="manual", device="cpu"),
                bench("floor", FLOOR, 0.2, role="floor", device="cpu"),
            ]
        }
    )
    assert "| cuda | manual loop's distance to the floor | 50.0× |  |  |" in text
    assert "| cuda | all 569 gradients vectorized" not in text


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
