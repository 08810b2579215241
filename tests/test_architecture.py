"""The house stays as drawn (docs/architecture.md).

- the import-linter contracts in pyproject.toml hold: the layers, no import cycle between the
  modules of any package (imports inside functions count; ``TYPE_CHECKING`` ones do not), and
  a model that imports no parser, store, HTTP client or event loop;
- the model modules import only the standard library, attrs and each other;
- the five plugins and the documented example import only ``orchestra_core`` and
  ``orchestra_core.testing``, as a third party's plugin would;
- no module of the core is over 400 lines.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "orchestra_core"

MODEL = ["_pipeline", "_alerts", "_triggers/model", "_models", "_errors", "_retry",
         "_redaction", "_values"]
PUBLIC = {"orchestra_core", "orchestra_core.testing"}
MAX_LINES = 400


def _imports(path: Path) -> list[tuple[int, str, int]]:
    """``(line, module, level)`` of every import in *path*, also inside functions, except
    those under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
            and "TYPE_CHECKING" in ast.unparse(node.test) for sub in node.body
            for n in ast.walk(sub)}
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, 0) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append((node.lineno, node.module or "", node.level))
    return out


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.skip("import-linter is not installed (it is in the dev dependency group)")
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize("name", MODEL)
def test_the_model_imports_only_the_standard_library_and_attrs(name):
    path = CORE / f"{name}.py"
    allowed = set(sys.stdlib_module_names) | {"attrs", "attr"}
    model = {f"orchestra_core.{m.replace('/', '.')}" for m in MODEL}
    package = "orchestra_core." + ".".join(Path(name).parts[:-1]) if "/" in name \
        else "orchestra_core"
    for line, module, level in _imports(path):
        if level:
            base = package.rsplit(".", level - 1)[0] if level > 1 else package
            module = f"{base}.{module}" if module else base
            assert module in model, f"{path.name}:{line} imports {module}, above the model"
        else:
            assert module.split(".")[0] in allowed, f"{path.name}:{line} imports {module}"


def _plugin_sources():
    for base in [*sorted((ROOT / "plugins").glob("*/src")),
                 *sorted((ROOT / "docs" / "examples").glob("*"))]:
        for path in sorted(base.rglob("*.py")):
            if "tests" not in path.relative_to(base).parts:
                yield path


def test_plugins_and_the_example_import_only_the_public_api():
    wrong = []
    for path in _plugin_sources():
        for line, module, level in _imports(path):
            if not level and module.startswith("orchestra_core") and module not in PUBLIC:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {module}")
    assert not wrong, "private imports:\n" + "\n".join(wrong)


def test_no_module_of_the_core_is_over_400_lines():
    sizes = {p.relative_to(ROOT): len(p.read_text(encoding="utf-8").splitlines())
             for p in CORE.rglob("*.py")}
    big = {str(p): n for p, n in sizes.items() if n > MAX_LINES}
    assert not big, f"split these modules: {big}"
