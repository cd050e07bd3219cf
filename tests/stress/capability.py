"""python -m tests.stress.capability: the battery's float32 verdicts as JSON on stdout, for test_stress.py to run under
each ATEN_CPU_CAPABILITY and MKL_CBWR setting (they change the bits of float32 sums and matmuls, not the verdicts).

    {"capability": what torch dispatches to here ("DEFAULT", "AVX2", "AVX512"), "verdicts": {id: [ok, first, status]}}
"""

import json

import torch

from tests.stress.battery import KNOWN_GAPS, PLANT_SEEDS, plant_ids, planted, seeds, verdict, verified
from tests.stress.cases import CASES

CAPABILITY_SEEDS = (0,)  # 13 correct verifications and the 26 planted float32 errors


def float32_cases() -> dict[str, tuple]:
    """id -> ("correct",) or ("plant", case, dtype, seed, name, kind, missed): the float32 cases compared, each with
    what test_stress.py's own tests assert of it in process (a correct case ok; a plant a MISMATCH first at its
    name, or, strict in KNOWN_GAPS, missed on every CPU). A plant on the edge (not strict) is left out: its verdict
    is the CPU's summation order's."""
    out: dict[str, tuple] = {}
    for case in CASES:
        for seed in CAPABILITY_SEEDS:
            if seed in seeds(case):
                out[f"{case}-float32-seed{seed}"] = ("correct", case, "float32", seed)
    for case, dtype, seed, name, kind in plant_ids():
        gap = KNOWN_GAPS.get((case, dtype, seed, name, kind))
        if dtype == "float32" and seed == PLANT_SEEDS[0] and (gap is None or gap[1]):
            out[f"{case}-{dtype}-seed{seed}-{name}-{kind}"] = ("plant", case, dtype, seed, name, kind, gap is not None)
    return out


def as_asserted(what: tuple, got: list) -> bool:
    """Whether a verdict is the one test_stress.py asserts in process for the case (float32_cases)."""
    if what[0] == "correct":
        return got == [True, None, None]
    caught = got == [False, what[4], "MISMATCH"]
    return not caught if what[6] else caught


def float32_verdicts() -> dict[str, list]:
    out = {}
    for key, what in float32_cases().items():
        v = verified(*what[1:4]) if what[0] == "correct" else planted(*what[1:6])[0]
        out[key] = verdict(v)
    return out


if __name__ == "__main__":
    torch.set_num_threads(1)  # as the tests run (tests/conftest.py): the thread count changes float32 sums too
    print(json.dumps({"capability": torch.backends.cpu.get_cpu_capability(), "verdicts": float32_verdicts()}))
