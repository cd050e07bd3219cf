"""Put what a benchmark reader needs to compare machines into pytest-benchmark's JSON: torch and the GPU."""

import torch


def pytest_benchmark_update_json(config, benchmarks, output_json):
    output_json["torch"] = torch.__version__
    output_json["gpu"] = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
