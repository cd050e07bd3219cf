"""The benchmark report's section on the verifier's own cost (benchmarks/test_bench_verifier.py): per case the
medians of verify_chain and of the work it compares and their ratio, the two targets against their bounds, and the
log-log figure. One small report stated to the character, as tests/test_bench_report.py does for the others."""

import json

import pytest

from benchmarks import bench_report
from benchmarks.bench_report import COMPARED, LAYERNORM, NINJA, VERIFIER, VERIFY


def bench(case, variant, seconds, names, numel, target=None):
    """One entry of pytest-benchmark's JSON as benchmarks/test_bench_verifier.py writes it"""
    info = {"verifier": VERIFIER, "case": case, "variant": variant, "names": names, "numel": numel}
    return {"stats": {"median": seconds}, "extra_info": info | ({"target": target} if target else {})}


REPORT = {
    "machine_info": {"python_version": "3.11.7", "cpu": {"brand_raw": "AMD EPYC 7B13"}},
    "torch": "2.13.0",
    "gpu": "no GPU",
    "datetime": "2025-01-02T03:04:05",
    "benchmarks": [
        bench("numel 1e+03, 4 names", VERIFY, 2e-3, 4, 1000),  # 2×
        bench("numel 1e+01, 4 names", COMPARED, 2.5e-4, 4, 10),
        bench("numel 1e+01, 4 names", VERIFY, 1e-3, 4, 10),  # 4×
        bench("numel 1e+03, 4 names", COMPARED, 1e-3, 4, 1000),
        bench("numel 1e+01, 16 names", VERIFY, 5e-3, 16, 10),  # its compared work was not measured: "–"
        bench(NINJA, VERIFY, 3.1e-3, 26, 22953, target=NINJA),  # 3.1× against ≤ 3×: missed
        bench(NINJA, COMPARED, 1e-3, 26, 22953, target=NINJA),
        bench(LAYERNORM, VERIFY, 0.02, 13, 2687232, target=LAYERNORM),  # 2× against ≤ 2×: met, the bound inclusive
        bench(LAYERNORM, COMPARED, 0.01, 13, 2687232, target=LAYERNORM),
        {"stats": {"median": 1.0}, "extra_info": {"verifier": VERIFIER, "case": "no names"}},  # keys missing: ignored
    ],
}

EXPECTED = """\
torch 2.13.0, no GPU, Python 3.11.7, AMD EPYC 7B13; 2025-01-02T03:04:05

## the verifier's own cost: verify_chain against the work it compares

compared work: one forward, autograd's gradient of every named tensor and one call of the hand-written backward; \
medians, float32, CPU.

![verify_chain / compared work against numel per tensor, log-log, per number of names](bench-verifier.png)

### verifier: an elementwise chain of named tensors

| named tensors | numel per tensor | elements | verify_chain | compared work | ratio |
|---:|---:|---:|---:|---:|---:|
| 4 | 10 | 40 | 1 ms | 250 µs | 4× |
| 4 | 1,000 | 4,000 | 2 ms | 1 ms | 2× |
| 16 | 10 | 160 | 5 ms | – | – |

### verifier: targets

| derivation | named tensors | elements | verify_chain | compared work | ratio | target | |
|---|---:|---:|---:|---:|---:|---:|---|
| LayerNorm -> Linear -> GELU, [8, 128, 256] | 13 | 2,687,232 | 20 ms | 10 ms | 2× | ≤ 2× | met |
| batch-norm MLP (backprop ninja), batch 32 | 26 | 22,953 | 3.1 ms | 1 ms | 3.1× | ≤ 3× | MISSED |
"""


def write(tmp_path, report):
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(report))
    return path


def test_the_verifier_section_renders_to_the_character(tmp_path):
    report = bench_report.load(write(tmp_path, REPORT))
    assert bench_report.render(report, verifier_figure="bench-verifier.png") == EXPECTED.rstrip("\n")


def test_the_figures_lines_are_one_per_number_of_names_over_the_cases_with_both_variants():
    cases = bench_report.verifier_medians([b for b in REPORT["benchmarks"] if bench_report.is_verifier(b)])
    assert bench_report.verifier_lines(cases) == {4: ([10, 1000], [1e-3, 2e-3], [2.5e-4, 1e-3], [4.0, 2.0])}


def test_main_draws_the_figure_beside_the_markdown_and_links_it(tmp_path):
    plot = "the figure needs the extra plot: pip install -e '.[plot]'"
    imread = pytest.importorskip("matplotlib.image", reason=plot).imread
    md = tmp_path / "bench.md"
    assert bench_report.main([str(write(tmp_path, REPORT)), "--output", str(md)]) == 0
    assert md.read_text() == EXPECTED
    image = imread(tmp_path / "bench-verifier.png")
    size = [round(inches * bench_report.SWEEP_DPI) for inches in reversed(bench_report.VERIFIER_SIZE)]
    assert list(image.shape) == [*size, 4] and image[..., :3].std() > 0.05  # drawn at its size, not blank


def test_a_verifier_figure_of_a_json_without_the_verifier_is_a_usage_error(tmp_path, capsys):
    sweep = {"extra_info": {"sweep": "hidden", "device": "cpu", "variant": "manual", "N": 1, "H": 1}}
    path = write(tmp_path, {"benchmarks": [sweep | {"stats": {"median": 1e-6}}]})
    with pytest.raises(SystemExit) as exit_:
        bench_report.main([str(path), "--verifier-figure", str(tmp_path / "v.png")])
    assert exit_.value.code == 2 and "has no verifier benchmarks" in capsys.readouterr().err
    assert not (tmp_path / "v.png").exists()
