"""`backprop-manual verify|train --derivation NAME|FILE.py`: a shipped derivation or the user's own, on check/.

A derivation defines forward, backward and example(dtype, device) -> (params, inputs), and may define PER_SAMPLE,
LR and CHECK_INPUTS (backprop_manual/derivations/__init__.py, docs/your-own-derivation.md). On each device and dtype:
    verify_chain(forward, backward, *example(dtype, device), per_sample=PER_SAMPLE, check_inputs=CHECK_INPUTS)
                                                                                    every gradient, chain order
    verify_training(..., lr=LR, epochs=--epochs, check_inputs=CHECK_INPUTS)         hand SGD vs torch.optim.SGD
Whatever is wrong with the file itself (missing, not importing, no forward, a bad example, an exception inside
its own functions) is a UsageError: exit 2, one line naming the file and what, no traceback. 1 is a disagreement.
"""

import argparse
import importlib
import importlib.util
import itertools
import math
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from backprop_manual.check import ChainReport, ChainUsageError, TrainingReport, verify_chain, verify_training
from backprop_manual.check.compare import all_agree, counted
from backprop_manual.cli import columns, distributed
from backprop_manual.cli.usage import ANY_DTYPE, DTYPES, UsageError, check_output, devices
from backprop_manual.cli.verdict import DERIVATION_SCHEMA as SCHEMA
from backprop_manual.cli.verdict import write
from backprop_manual.derivations import SHIPPED
from backprop_manual.derivations.batch_form import batch_form
from backprop_manual.distributed.derivations import DISTRIBUTED

DEFAULT_LR = 0.1  # when neither --lr nor the module's LR says
FUNCTIONS = ("forward", "backward", "example")
_unique = itertools.count()  # user files are imported under backprop_manual_user_derivation_<n>


class UserCodeError(Exception):
    """An exception raised inside the derivation's own forward or backward: its author's bug, not a verdict."""


@dataclass(frozen=True)
class Derivation:
    name: str  # the shipped name, or the path as given
    source: str  # the module, or the file
    path: str  # the file's resolved path: the lines of a traceback that are the user's
    forward: Callable  # guarded: an exception inside it becomes a UserCodeError naming it
    backward: Callable
    example: Callable
    per_sample: bool
    lr: float | None  # the module's LR, if it has one
    check_inputs: tuple[str, ...] = ()  # the module's CHECK_INPUTS: inputs whose dJ/d(input) is checked too


def first_line(e: BaseException, path: str = "") -> str:
    """'ZeroDivisionError: division by zero (line 12)': the line is the deepest of the user's file."""
    text = str(e).strip().splitlines()
    lines = [
        f.lineno for f in traceback.extract_tb(e.__traceback__) if path and str(Path(f.filename).resolve()) == path
    ]
    return f"{type(e).__name__}{': ' + text[0] if text else ''}{f' (line {lines[-1]})' if lines else ''}"


def _guarded(fn: Callable, name: str, path: str) -> Callable:
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            raise UserCodeError(f"{name} raised {first_line(e, path)}") from e

    return call


def load(spec: str) -> Derivation:
    """A shipped name (SHIPPED) by importlib.import_module, else a file by spec_from_file_location."""
    if spec in SHIPPED:
        module_name = SHIPPED[spec][0]
        try:
            module = importlib.import_module(module_name)
        except Exception as e:
            raise UsageError(
                f"the shipped derivation {spec!r} ({module_name}) does not import: {first_line(e)}"
            ) from None
        return _derivation(spec, module_name, module)
    if not spec.strip():
        raise UsageError("--derivation needs a shipped name or the path of a .py file")
    path = Path(spec)
    if not path.exists():
        if path.suffix == ".py" or len(path.parts) > 1:
            raise UsageError(f"{spec}: no such file")
        raise UsageError(
            f"unknown derivation {spec!r}: the shipped ones are {', '.join(SHIPPED)} (backprop-manual derivations "
            "describes them); your own is given by its path, e.g. --derivation mine.py"
        )
    if path.is_dir():
        raise UsageError(f"{spec}: is a directory; give the .py file that defines forward, backward and example")
    unique = f"backprop_manual_user_derivation_{next(_unique)}"
    module_spec = importlib.util.spec_from_file_location(unique, path)
    if module_spec is None:
        raise UsageError(f"{spec}: not a Python file; give the .py file that defines forward, backward and example")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[unique] = module  # dataclasses, pickling and torch.func look a class's module up by name
    try:
        module_spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:  # SyntaxError, ImportError, sys.exit() at import, ...
        del sys.modules[unique]
        raise UsageError(f"{spec}: does not import: {first_line(e, str(path.resolve()))}") from None
    return _derivation(spec, spec, module)


def _derivation(name: str, source: str, module) -> Derivation:
    missing = [f for f in FUNCTIONS if not callable(getattr(module, f, None))]
    if missing:
        raise UsageError(
            f"{name}: no function {', '.join(f'{m}()' for m in missing)}: a derivation defines forward(**params, "
            "**inputs), backward(fwd, **params, **inputs) and example(dtype, device) (docs/your-own-derivation.md)"
        )
    per_sample = getattr(module, "PER_SAMPLE", False)
    if not isinstance(per_sample, bool):
        raise UsageError(f"{name}: PER_SAMPLE must be True or False, not {per_sample!r}")
    lr = getattr(module, "LR", None)
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, int | float) or not 0 < lr < math.inf):
        raise UsageError(f"{name}: LR must be a finite number > 0, not {lr!r}")
    check_inputs = getattr(module, "CHECK_INPUTS", ())
    if isinstance(check_inputs, str) or not (
        isinstance(check_inputs, tuple | list) and all(isinstance(k, str) for k in check_inputs)
    ):
        raise UsageError(f"{name}: CHECK_INPUTS must be a tuple of input names, e.g. ('x',), not {check_inputs!r}")
    path = str(Path(module.__file__).resolve())
    fns = {f: _guarded(getattr(module, f), f, path) for f in ("forward", "backward")}
    return Derivation(
        name, source, path, fns["forward"], fns["backward"], module.example, per_sample, lr, tuple(check_inputs)
    )


def point(d: Derivation, dtype: str, device: str) -> tuple[dict, dict]:
    """example(dtype, device), checked: two dicts of name -> tensor, every tensor on `device`, floats in `dtype`."""
    call = f"example(torch.{dtype}, {device!r})"
    try:
        got = d.example(ANY_DTYPE[dtype], device)
    except Exception as e:
        raise UsageError(f"{d.name}: {call} raised {first_line(e, d.path)}") from None
    if not (isinstance(got, tuple | list) and len(got) == 2 and all(isinstance(m, Mapping) for m in got)):
        what = f"a {type(got).__name__}" + (f" of {len(got)}" if isinstance(got, tuple | list) else "")
        raise UsageError(
            f"{d.name}: {call} must return (params, inputs), two dicts of name -> tensor; it returned {what}"
        )
    for role, mapping in zip(("params", "inputs"), got, strict=True):
        for k, v in mapping.items():
            bad = None
            if not isinstance(v, torch.Tensor):  # an input may be anything the forward takes; a parameter may not
                bad = None if role == "inputs" else f"a {type(v).__name__}, not a tensor"
            elif v.device.type != torch.device(device).type:
                bad = f"on {v.device}, not {device}: make the tensors with device=device"
            elif v.is_floating_point() and v.dtype != ANY_DTYPE[dtype]:  # else the run would claim a dtype it never saw
                bad = f"{str(v.dtype).removeprefix('torch.')}, not {dtype}: make the tensors with dtype=dtype"
            if bad:
                raise UsageError(f"{d.name}: {call} returned {role}[{k!r}] {bad}")
    return dict(got[0]), dict(got[1])


def checked(d: Derivation, where: str, fn: Callable, *args, **kwargs):
    """fn(*args, **kwargs) with whatever the derivation makes go wrong as a UsageError: exit 2, never 1."""
    try:
        return fn(*args, **kwargs)
    except UserCodeError as e:
        raise UsageError(f"{d.name}: {e}, {where}") from None
    except ChainUsageError as e:
        if isinstance(e.__cause__, UserCodeError):  # raised under torch.func.vmap: per_sample's one-sample forward
            raise UsageError(
                f"{d.name}: {e.__cause__}, {where} (PER_SAMPLE: one sample at a time, under vmap)"
            ) from None
        raise UsageError(f"{d.name}: {str(e).splitlines()[0]}, {where}") from None
    except Exception as e:  # not the user's own lines, yet caused by what the file gave: still not a verdict
        raise UsageError(f"{d.name}: the verifier failed on it, {where}: {first_line(e)}") from None


def learning_rate(args: argparse.Namespace, d: Derivation) -> tuple[float, str]:
    if args.lr is not None:
        return args.lr, "--lr"
    return (d.lr, "the module's LR") if d.lr is not None else (DEFAULT_LR, "the default")


def describe(d: Derivation, args: argparse.Namespace, lr: float, lr_from: str) -> str:
    what = f": {SHIPPED[d.name][1]}" if d.name in SHIPPED else ""
    steps = "one step per sample, PER_SAMPLE" if d.per_sample else "one full-batch step each"
    source = f" ({d.source})" if d.source != d.name else ""
    grads = ", ".join(f"dJ/d{k}" for k in d.check_inputs)
    checked = f"; {grads} checked too (CHECK_INPUTS), never trained" if d.check_inputs else ""
    if not args.epochs:
        return f"derivation {d.name}{source}{what}; training: skipped (--epochs 0){checked}"
    epochs = counted(args.epochs, "epoch")
    return f"derivation {d.name}{source}{what}; training: {epochs} ({steps}), lr = {lr:g} ({lr_from}){checked}"


def run_verify(args: argparse.Namespace) -> int:
    data = getattr(args, "data", None)
    if distributed.wanted(args.derivation):  # reference, sharded, layouts: ranks on gloo (cli/distributed.py)
        if data is not None:
            raise UsageError(
                f"--data applies to a derivation whose inputs are per-sample columns, not to {args.derivation}"
            )
        return distributed.run_verify(args)
    for option in ("world_size", "timeout"):
        if getattr(args, option, None) is not None:
            flag = "--" + option.replace("_", "-")
            raise UsageError(f"{flag} applies to a distributed derivation, not to {args.derivation}")
    on = devices(args.device)
    check_output(args.json, "--json")
    d = load(args.derivation)
    lr, lr_from = learning_rate(args, d)
    combos = [(device, dtype) for device in on for dtype in (list(DTYPES) if args.dtype == "all" else [args.dtype])]
    points = {(device, dtype): point(d, dtype, device) for device, dtype in combos}  # a bad example: before output
    table = columns.read(data, args.columns) if data is not None else None
    if table is not None:  # the CSV's rows instead of the example's inputs (cli/columns.py)
        points = {k: (params, columns.inputs(table, inputs, d.name)) for k, (params, inputs) in points.items()}
    print(f"backprop_manual: hand backward vs autograd, in chain order; {describe(d, args, lr, lr_from)}")
    if table is not None:
        read_as = "; ".join(f"{k} <- {', '.join(map(str, c)) if len(c) < 4 else f'{c[0]} ... {c[-1]} ({len(c)})'}"
                            for k, c in table.used.items())  # fmt: skip
        print(f"data: {table.path}, {counted(table.rows, 'row')} ({read_as}); the parameters: example()'s")
    if args.device is None and "cuda" not in on:
        print("cuda: not available on this machine (torch.cuda.is_available() is False): not verified")
    runs = []
    for (device, dtype), (params, inputs) in points.items():
        where = f"on {device} in {dtype}"
        report = checked(
            d,
            where,
            verify_chain,
            d.forward,
            d.backward,
            params,
            inputs,
            per_sample=d.per_sample,
            strict=args.strict,
            check_inputs=d.check_inputs,
        )
        if not report.loss_finite:  # NaN is never agreement, and a point where J itself is NaN or inf is no test
            at = f"the point of example()'s parameters on {table.path}" if table else "example()'s point"
            raise UsageError(f"{d.name}: J is not finite at {at} {where}: not verified; choose another")
        oracle_not_finite = _only_autograd_not_finite(report)
        if oracle_not_finite is not None:  # autograd cannot speak there: no disagreement is shown, exit 2, not 1
            r = oracle_not_finite
            raise UsageError(
                f"{d.name}: autograd's own dJ/d{r.name} is not finite at {r.index} {where} (autograd {r.autograd:g}, "
                f"the hand backward {r.manual:.8g}): not verified; choose another point or a wider dtype"
            )
        text = report.table() if report.ok else checked(d, where, report.message)  # the witness runs the forward
        training = checked(d, where, train, d, params, inputs, lr, args.epochs) if args.epochs else None
        if report.ok:
            notes = "".join(f"\n  note: {n}" for n in report.notes)
            less = f" ({len(report.less_accurate)} less accurate than autograd)" if report.less_accurate else ""
            print(f"\n{device} {dtype}: {all_agree(len(report.rows))}{less}{notes}\n{text}")
        else:
            print(f"\n{device} {dtype}: MISMATCH\n{text}")
        print(f"  {training.summary() if training else 'training: skipped (--epochs 0)'}")
        if training is not None and training.diverged is not None and training.first is None and report.ok:
            raise UsageError(
                f"{d.name} {where}: training diverged at step {training.diverged} (J or the gradients are not finite "
                f"on both sides at lr = {lr:g}): not verified; try a smaller --lr"
            )
        runs.append(run(device, dtype, report, training))
    ok = all(r["status"] == "ok" for r in runs)
    print(f"\n{'all agree' if ok else 'MISMATCH: see the tables above'}")
    if args.json:
        write(args.json, verdict(args, d, on, lr, lr_from, runs, table))
    return 0 if ok else 1


def _only_autograd_not_finite(report: ChainReport):
    """The first row where autograd's gradient is not finite and the hand backward's is, when every row that is not
    ok is such a row (then nothing disagrees that autograd can judge); else None."""
    bad = [r for r in report.rows if not r.ok]
    if bad and all(r.status == "not finite" and math.isfinite(r.manual) and not math.isfinite(r.autograd) for r in bad):
        return bad[0]
    return None


def run(device: str, dtype: str, report: ChainReport, training: TrainingReport | None) -> dict:
    first = report.first_divergence
    return {
        "device": device,
        "dtype": dtype,
        "status": "ok" if report.ok and (training is None or training.ok) else "MISMATCH",
        "first_divergent_intermediate": None if first is None else first.label,  # null: every gradient agrees
        "less_accurate": [r.label for r in report.less_accurate],
        "notes": list(report.notes),
        "intermediates": [{k: v for k, v in asdict(r).items() if k != "deciding"} for r in report.rows],
        "training": None
        if training is None
        else {
            "status": training.status,
            "steps": training.steps,
            "max_abs_diff": training.max_abs,
            "first_divergence": None if training.first is None else asdict(training.first),
            "summary": training.summary(),
        },
    }


def verdict(args, d: Derivation, on: list[str], lr: float, lr_from: str, runs: list[dict], table=None) -> dict:
    ok = all(r["status"] == "ok" for r in runs)
    return {
        "schema": SCHEMA,
        "status": "ok" if ok else "MISMATCH",
        "exit_code": 0 if ok else 1,
        "command": "backprop-manual verify",
        "derivation": {
            "name": d.name,
            "source": d.source,
            "per_sample": d.per_sample,
            "check_inputs": list(d.check_inputs),
        },
        "data": None  # example()'s inputs; else the CSV's, and the columns each input was read from
        if table is None
        else {"path": table.path, "rows": table.rows, "columns": {k: list(map(str, c)) for k, c in table.used.items()}},
        "training": {"epochs": args.epochs, "lr": lr, "lr_from": lr_from},
        "devices_not_available": [x for x in ("cpu", "cuda") if args.device is None and x not in on],
        "torch": torch.__version__,
        "runs": runs,
    }


def run_train(args: argparse.Namespace) -> int:
    if distributed.wanted(args.derivation):
        raise UsageError(f"{args.derivation} is a distributed derivation: backprop-manual verify checks it, not train")
    (device,) = devices(args.device)
    d = load(args.derivation)
    lr, lr_from = learning_rate(args, d)
    where = f"on {device} in {args.dtype}"
    print(f"backprop-manual train: {describe(d, args, lr, lr_from)}; {where}")
    params, inputs = point(d, args.dtype, device)
    report = checked(d, where, train, d, params, inputs, lr, args.epochs)
    J = [checked(d, where, cost, d, p, inputs) for p in (params, report.manual, report.autograd)]
    print(f"\n  J: {J[0]:.8g} at the start; at the end: manual {J[1]:.8g}, torch.optim.SGD {J[2]:.8g}")
    name = max([12, *(len(k) + 2 for k in report.manual)])  # columns as wide as a long name or shape needs
    shape = max([14, *(len(str(list(m.shape))) + 2 for m in report.manual.values())])
    print(f"\n  {'parameter':<{name}}{'shape':<{shape}}{'final |manual - SGD|':>22}{'largest over the steps':>24}")
    for k, m in report.manual.items():
        final = float((m.double() - report.autograd[k].double()).abs().max()) if m.numel() else 0.0
        print(f"  {k:<{name}}{str(list(m.shape)):<{shape}}{final:>22.3e}{report.max_abs[k]:>24.3e}")
    print(f"\n  {report.summary()}")
    return 0 if report.ok else 1


def train(d: Derivation, params: dict, inputs: dict, lr: float, epochs: int) -> TrainingReport:
    """PER_SAMPLE: one sample per step, J = that sample's J_i (the lesson's loop); else the full batch per step."""
    forward, backward = (
        batch_form(d.forward, d.backward, "sum", d.check_inputs) if d.per_sample else (d.forward, d.backward)
    )
    return verify_training(
        forward, backward, params, inputs, lr=lr, epochs=epochs, per_sample=d.per_sample, check_inputs=d.check_inputs
    )


def cost(d: Derivation, params: dict, inputs: dict) -> float:
    """J at params; with PER_SAMPLE, the mean of the samples' J."""
    with torch.no_grad():
        return float(d.forward(**params, **inputs)["loss"].double().mean())


def run_list(args: argparse.Namespace) -> int:
    """`backprop-manual derivations`: the shipped ones, one a line, the name then what it is."""
    width = max(map(len, [*SHIPPED, *DISTRIBUTED]))
    for name, (_, description) in SHIPPED.items():
        print(f"{name:<{width}}  {description}")
    for name, (_, _, description) in DISTRIBUTED.items():
        print(f"{name:<{width}}  {description}")
    return 0
