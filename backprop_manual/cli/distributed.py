"""`backprop-manual verify --derivation NAME|FILE.py [--world-size N] [--timeout S]` for a distributed derivation.

A distributed derivation defines reference(), sharded(rank, world_size) and optionally layouts (name -> Shard(d),
Replicate(), Partial()): backprop_manual.distributed.verify_distributed runs it on --world-size ranks (default 2),
gloo on the CPU, in the derivation's own dtype. Exit codes: 0 every rank agrees, 1 a divergence (the first
(name, rank) is named), 2 the file, a rank that raised or timed out, or an option that does not apply; 3 a bug here.
--json PATH writes the verdict (the --derivation layout, docs/cli.md: one run per rank) once the ranks are judged.
"""

import ast
import importlib
import importlib.util
import itertools
import sys
from dataclasses import asdict
from pathlib import Path

import torch

from backprop_manual.check import ChainUsageError
from backprop_manual.cli.usage import UsageError, check_output
from backprop_manual.cli.verdict import DERIVATION_SCHEMA, write
from backprop_manual.distributed.derivations import DISTRIBUTED

DEFAULT_WORLD_SIZE = 2
_unique = itertools.count()  # user files are imported under backprop_manual_user_distributed_<n>


def wanted(spec: str) -> bool:
    """A shipped distributed name, or a .py file that defines sharded at its top level (read, not run)."""
    if spec in DISTRIBUTED:
        return True
    path = Path(spec)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return False  # not ours to report: derivations.load says what is wrong with the file
    return any(isinstance(n, ast.FunctionDef) and n.name == "sharded" for n in tree.body)


def load(spec: str):
    """(module, its sharded function, a description) of a shipped name or a user's file."""
    if spec in DISTRIBUTED:
        module_name, function, description = DISTRIBUTED[spec]
        module = importlib.import_module(module_name)
        return module, getattr(module, function), description
    unique = f"backprop_manual_user_distributed_{next(_unique)}"
    module_spec = importlib.util.spec_from_file_location(unique, spec)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[unique] = module  # the ranks import sharded by this name (launcher._preload)
    try:
        module_spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:
        del sys.modules[unique]
        raise UsageError(f"{spec}: does not import: {type(e).__name__}: {e}") from None
    if not callable(getattr(module, "reference", None)):
        raise UsageError(f"{spec}: defines sharded but no reference(): docs/your-own-derivation.md, distributed")
    return module, module.sharded, f"your own file, {spec}"


def run_verify(args) -> int:
    if args.device not in (None, "cpu"):
        raise UsageError(
            f"--device {args.device} does not apply to a distributed derivation: its ranks run on gloo, on the CPU"
        )
    check_output(args.json, "--json")
    from backprop_manual.distributed import verify_distributed  # on use: torch.distributed.tensor is slow to import
    from backprop_manual.distributed.verify import TIMEOUT_S

    module, sharded, description = load(args.derivation)
    world_size = args.world_size or DEFAULT_WORLD_SIZE
    print(
        f"backprop_manual: every rank's sharded gradients vs autograd on the unsharded reference, in chain order; "
        f"derivation {args.derivation}: {description}; {world_size} rank{'s' if world_size > 1 else ''}, gloo on cpu"
    )
    try:
        report = verify_distributed(
            module.reference, sharded, getattr(module, "layouts", None), world_size, timeout=args.timeout or TIMEOUT_S
        )
    except ChainUsageError as e:  # RankFailure among them: a rank raised, broke the contract, died or timed out
        raise UsageError(f"{args.derivation}: {e}") from None
    print(f"\n{report.message()}")
    print(f"\n{'all agree' if report.ok else 'MISMATCH: see the tables above'}")
    if args.json:
        write(args.json, verdict(args, description, world_size, report))
    return 0 if report.ok else 1


def verdict(args, description: str, world_size: int, report) -> dict:
    """The --derivation verdict's layout (cli/derivations.py, DERIVATION_SCHEMA): one run per rank, with what the rank
    holds."""
    from backprop_manual.distributed import layouts  # torch.distributed.tensor: 1.2 s to import, only when distributed

    first = report.first_divergence
    runs = []
    for rank, chain in enumerate(report.chains):
        mine = chain.first_divergence
        held = [h for h in report.held if h.rank in (rank, "all")]
        runs.append(
            {
                "device": "cpu",
                "dtype": str(chain.dtype).removeprefix("torch."),
                "rank": rank,
                "status": "ok" if chain.ok and all(h.ok for h in held) else "MISMATCH",
                "first_divergent_intermediate": None if mine is None else mine.label,
                "less_accurate": [r.label for r in chain.less_accurate],
                "notes": list(chain.notes),
                "held": [asdict(h) for h in held],  # its parameters and stated forward values against its view
                "intermediates": [{k: v for k, v in asdict(r).items() if k != "deciding"} for r in chain.rows],
                "training": None,
            }
        )
    return {
        "schema": DERIVATION_SCHEMA,
        "status": "ok" if report.ok else "MISMATCH",
        "exit_code": 0 if report.ok else 1,
        "command": "backprop-manual verify",
        "derivation": {
            "name": args.derivation,
            "source": description,
            "per_sample": False,
            "check_inputs": [],
            "distributed": True,
        },
        "world_size": world_size,
        "layouts": {k: layouts.describe(p) for k, p in report.layouts.items()},
        "first_divergence": None if first is None else asdict(first),  # name, rank ("all": the ranks' sum), stage
        "training": None,
        "devices_not_available": [],
        "torch": torch.__version__,
        "runs": runs,
    }
