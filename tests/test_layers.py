"""Folders are layers (README, "Layout"): each module of backprop_manual parsed with ast, its imports resolved to the
package's modules. The verifier (check/) imports nothing of the lesson (neuron/), the command line or the
derivations, and the lesson nothing of the verifier; and the module-level import graph has no cycle, so that no
import has to hide inside a function to dodge one (a function-level import is kept only for a slow import)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "backprop_manual"
ROOT = PACKAGE.name  # "backprop_manual"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The modules an import statement in module `name` names, each resolved to the deepest one of the package's
    (from backprop_manual.cli import commands: backprop_manual.cli.commands; from backprop_manual.check import
    verify_chain: backprop_manual.check); names outside the package as written."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: from . import x, from ..check import y
        package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
        package = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
        base = f"{package}.{base}" if base else package
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]


def imports(name: str, *, module_level: bool) -> list[tuple[int, str]]:
    """(line, module) of each import in `name`: all of them, or only those run when the module is imported (not
    inside a function; an `if TYPE_CHECKING:` block counts, as a cycle dodged there is still a cycle)."""
    found = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if module_level and isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.extend((child.lineno, m) for m in imported(name, child))
            visit(child)

    visit(ast.parse(MODULES[name].read_text(encoding="utf-8"), filename=str(MODULES[name])))
    return found


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


# layer -> what it must never import, anywhere in it (function-level imports included)
FORBIDDEN = {
    f"{ROOT}.check": (ROOT, f"{ROOT}.neuron", f"{ROOT}.neuron_check", f"{ROOT}.cli", f"{ROOT}.derivations"),
    f"{ROOT}.neuron": (ROOT, f"{ROOT}.check", f"{ROOT}.neuron_check", f"{ROOT}.cli", f"{ROOT}.derivations"),
}


def violations(layer: str) -> list[str]:
    forbidden = FORBIDDEN[layer]
    found = []
    for name in sorted(MODULES):
        if not within(name, layer):
            continue
        for line, target in imports(name, module_level=False):
            # `ROOT` itself (from backprop_manual import x) is forbidden only as the bare top level
            if any(target == f or (f != ROOT and within(target, f)) for f in forbidden):
                found.append(f"{MODULES[name].relative_to(PACKAGE.parent)}:{line} imports {target}")
    return found


@pytest.mark.parametrize("layer", FORBIDDEN, ids=[layer.rpartition(".")[2] for layer in FORBIDDEN])
def test_layer_imports_nothing_above_it(layer):
    found = violations(layer)
    assert not found, f"{layer} must not import {', '.join(FORBIDDEN[layer])}:\n  " + "\n  ".join(found)


def graph() -> dict[str, list[tuple[int, str]]]:
    """module -> (line, module of the package) it imports at module level."""
    return {name: [(ln, t) for ln, t in imports(name, module_level=True) if t in MODULES] for name in MODULES}


def cycle(edges: dict[str, list[tuple[int, str]]]) -> list[str] | None:
    """One cycle of the graph as 'a:line -> b:line -> ... -> a', depth first; None when there is none."""
    state: dict[str, str] = {}  # "open" on the current path, "done" once every path from it is explored
    path: list[tuple[str, int]] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        for line, target in edges[node]:
            path.append((node, line))
            if state.get(target) == "open":
                start = next(i for i, (n, _) in enumerate(path) if n == target)
                return [f"{n}:{ln}" for n, ln in path[start:]] + [target]
            if target not in state and (found := visit(target)):
                return found
            path.pop()
        state[node] = "done"
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_import_graph_has_no_cycle():
    found = cycle(graph())
    assert found is None, "an import cycle at module level (module:line of each import): " + " -> ".join(found)


def test_the_checks_can_fail():
    """Each check finds what it is there to find: a cycle in a made-up graph, a forbidden import in a made-up
    module (the real tree has neither, so without this a check that looks at nothing would pass)."""
    made_up = {"a": [(3, "b")], "b": [(5, "c")], "c": [(7, "a")], "d": [(1, "a")]}
    assert cycle(made_up) == ["a:3", "b:5", "c:7", "a"]
    assert cycle({"a": [(3, "b")], "b": []}) is None
    assert graph()[f"{ROOT}.cli.main"], "the graph sees no import of cli/main.py: the parsing is broken"
    assert any(t == f"{ROOT}.neuron.passes" for _, t in imports(f"{ROOT}.neuron.loop", module_level=True))


def run_on_import(name: str) -> set[str]:
    """The modules an import of `name` imports: module level, but not in a function nor under `if TYPE_CHECKING:`."""
    found = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue
            if isinstance(child, ast.If) and isinstance(child.test, ast.Name) and child.test.id == "TYPE_CHECKING":
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.update(imported(name, child))
            visit(child)

    visit(ast.parse(MODULES[name].read_text(encoding="utf-8")))
    return found


def test_pandas_is_imported_by_the_command_line_alone():
    """pandas is imported where a file is read, not with the package: 0.5 s (python -X importtime) that
    `import backprop_manual`, each test process and each subprocess of the suite would pay. Outside cli/, which reads
    CSVs whenever it runs, no module imports it when it is imported."""
    found = [name for name in MODULES if not within(name, f"{ROOT}.cli") and "pandas" in run_on_import(name)]
    assert not found, found
    assert "pandas" in run_on_import(f"{ROOT}.cli.columns"), "the check sees no import: the parsing is broken"
