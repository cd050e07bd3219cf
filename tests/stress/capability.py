"""python -m tests.stress.capability: the battery's float32 verdicts as JSON on stdout, for test_stress.py to run under
each ATEN_CPU_CAPABILITY and MKL_CBWR setting (they change the bits of float32 sums and matmuls, not the verdicts).

    {"capability": what torch dispatches to here ("DEFAULT", "AVX2", "AVX512"), "verdicts": {id: [ok, first, status]}}
"""

import json

import torch

from tests.stress.battery import KNOWN_GAPS, PLANT_SEEDS, plant_ids, planted, seeds, verdict, verified
from tests.stress.cases import CASES

CAPABILITY_SEEDS = (0,)  # 13 correct verifications and the 26 planted float32 errors


def float32_verdicts() -> dict[str, list]:
    out = {}
    for case in CASES:
        for seed in CAPABILITY_SEEDS:
            if seed in seeds(case):
                v = verified(case, "float32", seed)
                out[v.id] = verdict(v)
    for case, dtype, seed, name, kind in plant_ids():
        borderline = KNOWN_GAPS.get((case, dtype, seed, name, kind), ("", True))[1] is False  # within ~1 of 8 u
        if dtype == "float32" and seed == PLANT_SEEDS[0] and not borderline:
            v, _ = planted(case, dtype, seed, name, kind)
            out[f"{v.id}-{name}-{kind}"] = verdict(v)
    return out


if __name__ == "__main__":
    torch.set_num_threads(1)  # as the tests run (tests/conftest.py): the thread count changes float32 sums too
    print(json.dumps({"capability": torch.backends.cpu.get_cpu_capability(), "verdicts": float32_verdicts()}))
