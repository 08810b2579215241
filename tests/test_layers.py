"""The import graph of orchestra_core: the model layer imports nothing above it, and no import
cycle runs through the model, the parsers or the host.

Every import counts, also inside functions; ``if TYPE_CHECKING:`` imports never run and are
left out. Run this file (``python tests/test_layers.py``) to print every cycle.
"""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "orchestra_core"

#: The model: plain attrs classes. They import only the standard library, attrs and each other.
MODEL = {"pipeline", "alerts", "retry", "models", "errors", "triggers.model"}
#: Modules no import cycle may run through: the model, the parsers above it and the host.
ACYCLIC = MODEL | {
    "_values", "_hooks", "_hookcalls", "_alerts_parse", "_alerter", "config", "serialize",
    "validation", "loader", "registry", "hookspecs", "protocols", "host",
    "triggers._parse", "triggers.times", "triggers._formats", "scheduling.registry",
}
STDLIB_AND_ATTRS = set(sys.stdlib_module_names) | {"attrs", "attr"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, known: dict[str, Path]) -> tuple[set[str], set[str]]:
    """``(core modules, other top-level packages)`` that module *name* imports when it runs."""
    tree = ast.parse(path.read_text())
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
            and "TYPE_CHECKING" in ast.unparse(node.test) for sub in node.body
            for n in ast.walk(sub)}
    core: set[str] = set()
    other: set[str] = set()
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            prefix = ".".join(["orchestra_core", *base, *([node.module] if node.module else [])])
            targets = [f"{prefix}.{a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            targets = [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            if not target.startswith("orchestra_core"):
                other.add(target.split(".")[0])
                continue
            mod = target.removeprefix("orchestra_core").lstrip(".")
            while mod and mod not in known:
                mod = mod.rpartition(".")[0]
            if mod and mod != name:
                core.add(mod)
    return core, other - {"__future__"}


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    known = _modules()
    core, other = {}, {}
    for name, path in known.items():
        core[name], other[name] = _imports(name, path, known)
    return core, other


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of *graph* with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while not comp or comp[-1] != v:
                comp.append(stack.pop())
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_model_imports_only_the_standard_library_attrs_and_itself():
    core, other = _graph()
    for name in sorted(MODEL):
        assert core[name] <= MODEL, f"{name} imports {sorted(core[name] - MODEL)}"
        assert other[name] <= STDLIB_AND_ATTRS, f"{name} imports {sorted(other[name])}"


def test_no_import_cycle_runs_through_the_model_parsers_or_host():
    core, _ = _graph()
    assert set(ACYCLIC) <= set(core)
    assert [c for c in cycles(core) if set(c) & ACYCLIC] == []


if __name__ == "__main__":
    for comp in cycles(_graph()[0]):
        print("cycle:", ", ".join(comp))
