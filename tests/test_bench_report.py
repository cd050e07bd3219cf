"""The benchmark report: per-sample medians, ratios to the manual variant and to the floor, targets met or missed."""

import json

import pytest

from backprop_manual import bench_report
from backprop_manual.bench_report import AUTOGRAD, FLOOR, MANUAL, VECTORIZED


def bench(group, variant, seconds, samples, role="", device="cpu"):
    return {
        "group": f"{group} [{device}]",
        "stats": {"median": seconds, "iqr": seconds / 10, "rounds": 5},
        "extra_info": {"group": group, "device": device, "variant": variant, "samples": samples, "role": role},
    }


@pytest.fixture
def report_json(tmp_path):
    path = tmp_path / "bench.json"
    path.write_text(
        json.dumps(
            {
                "torch": "2.13.0",
                "benchmarks": [
                    bench("epoch", MANUAL, 569 * 10e-6, 569, role="manual"),  # 10 µs per sample
                    bench("epoch", AUTOGRAD, 569 * 40e-6, 569),  # 40 µs per sample: 4× manual
                    bench("all gradients", VECTORIZED, 569 * 0.01e-6, 569, role="manual"),  # 10 ns per sample
                    bench("floor", FLOOR, 569 * 0.2e-6, 569, role="floor"),  # 0.2 µs per sample
                ],
            }
        )
    )
    return path


def test_renders_per_sample_medians_and_ratios(report_json):
    text = bench_report.render(bench_report.load(report_json))
    assert "### epoch [cpu]" in text and "### all gradients [cpu]" in text
    assert f"| {AUTOGRAD} | 40 | 4 | 4.00 | 200.0 | 5 |" in text
    assert f"| {MANUAL} | 10 | 1 | 1.00 | 50.0 | 5 |" in text


def test_targets_say_met_or_missed(report_json):
    text = bench_report.render(bench_report.load(report_json))
    assert "| cpu | manual loop vs plain autograd | 4.0× | ≥ 2.5× | met |" in text
    assert "| cpu | all 569 gradients vectorized vs the manual loop | 1000.0× | ≥ 500× | met |" in text
    assert "| cpu | manual loop's distance to the floor | 50.0× |" in text
    assert "torch.nn + SGD" not in text.split("### targets")[1], "a ratio without measurements must not be shown"


def test_a_json_without_our_benchmarks_is_a_clear_error(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text(json.dumps({"benchmarks": []}))
    with pytest.raises(SystemExit, match="has no benchmarks from benchmarks/"):
        bench_report.load(path)
    with pytest.raises(SystemExit, match="cannot read"):
        bench_report.load(tmp_path / "missing.json")
