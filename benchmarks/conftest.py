"""Put what a benchmark reader needs to compare machines into pytest-benchmark's JSON: torch, numba (the machine
floor's compiler, an optional extra), the GPU and the number of threads torch's CPU ops use (OMP_NUM_THREADS sets it;
on a shared machine it decides whether a median means anything: docs/benchmarks.md)."""

from importlib import metadata

import torch


def pytest_benchmark_update_json(config, benchmarks, output_json):
    output_json["torch"] = torch.__version__
    try:
        output_json["numba"] = metadata.version("numba")
    except metadata.PackageNotFoundError:
        output_json["numba"] = "not installed"
    output_json["gpu"] = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    output_json["torch_threads"] = torch.get_num_threads()
