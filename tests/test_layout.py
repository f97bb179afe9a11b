"""The rules the package's layout keeps, read from the source with `ast`:

- no module imports a private name (one starting with "_") from another module;
- no import cycles between lstmlab's modules (lazy imports inside functions count);
- no importlib.import_module / __import__ lookups, which no reader or tool can follow;
- no Python file over MAX_LINES lines;
- outside cells.py and reference/, no module names a cell kind ("lstm", "gru"...) as a string
  literal, so no set of kinds or dict keyed by kind, and no branch on a kind's name: what the
  package asks of a cell it reads from the cell's declaration (cells.py), so that a new cell
  touches cells.py and reference/<cell>.py only.

Each rule is a function over a source folder, so the tests below also check that
each rule catches a planted violation in a small package of their own.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator

import pytest

import lstmlab

PACKAGE_DIR = Path(lstmlab.__file__).resolve().parent
MAX_LINES = 600


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under the package folder `root`."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[str, str, int]]:
    """(imported module, imported name or "", line) for each import in module `name`, wherever it
    stands (top level or inside a function). `from pkg import sub` imports the module pkg.sub."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, "", node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                submodule = f"{module}.{alias.name}"
                yield (submodule, "", node.lineno) if submodule in known else (module, alias.name, node.lineno)


def private_imports(root: Path) -> list[str]:
    known = modules(root)
    problems = []
    for name, path in known.items():
        for module, imported, line in imports(name, path, known):
            if module == "__future__":
                continue
            dunder = imported.startswith("__") and imported.endswith("__")
            if imported.startswith("_") and not dunder:
                problems.append(f"{path.relative_to(root.parent)}:{line} imports {imported} from {module}")
    return problems


def import_cycles(root: Path) -> list[list[str]]:
    """Every cycle found by a depth-first walk of the graph of imports between the package's modules."""
    known = modules(root)
    graph = {name: sorted({m for m, _, _ in imports(name, path, known) if m in known and m != name})
             for name, path in known.items()}
    cycles, state = [], {}  # state: 1 on the current path, 2 done

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for start in graph:
        if start not in state:
            visit(start, [start])
    return cycles


def dynamic_imports(root: Path) -> list[str]:
    problems = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if called in ("import_module", "__import__"):
                    problems.append(f"{path.relative_to(root.parent)}:{node.lineno} calls {called}")
    return problems


def long_files(root: Path, limit: int = MAX_LINES) -> list[str]:
    sizes = {path: len(path.read_text(encoding="utf-8").splitlines()) for path in sorted(root.rglob("*.py"))}
    return [f"{path.relative_to(root.parent)}: {n} lines" for path, n in sizes.items() if n > limit]


def cell_kind_literals(root: Path, kinds, allowed=("cells.py", "reference")) -> list[str]:
    """Every string literal equal to a cell kind, outside the files and folders `allowed`
    (relative to `root`). Longer strings that mention a kind (messages, docstrings) are fine."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if relative.parts[0] in allowed or str(relative) in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in kinds:
                problems.append(f"{path.relative_to(root.parent)}:{node.lineno} names the cell kind {node.value!r}")
    return problems


# -- the package keeps the rules ----------------------------------------------------


def test_no_module_imports_a_private_name():
    assert private_imports(PACKAGE_DIR) == []


def test_no_import_cycles():
    assert import_cycles(PACKAGE_DIR) == []


def test_no_dynamic_imports():
    assert dynamic_imports(PACKAGE_DIR) == []


def test_no_file_is_too_long():
    assert long_files(PACKAGE_DIR) == []


def test_only_cells_and_reference_name_a_cell_kind():
    from lstmlab.cells import CELLS

    assert len(CELLS) >= 5
    assert cell_kind_literals(PACKAGE_DIR, set(CELLS)) == []


def test_tests_import_no_private_names_either():
    assert private_imports(Path(__file__).resolve().parent) == []


# -- and each rule catches a planted violation ----------------------------------------


@pytest.fixture
def planted(tmp_path) -> Path:
    """A small package that keeps every rule; each test below breaks one."""
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("from .core import helper\n")
    (root / "core.py").write_text("def helper():\n    return 1\n\n\ndef _secret():\n    return 2\n")
    (root / "sub" / "__init__.py").write_text("")
    (root / "sub" / "task.py").write_text("from ..core import helper\n")
    assert private_imports(root) == [] and import_cycles(root) == [] and dynamic_imports(root) == []
    assert long_files(root) == []
    return root


def test_a_planted_private_import_is_caught(planted):
    (planted / "sub" / "task.py").write_text("from ..core import helper, _secret\n")
    assert private_imports(planted) == ["pkg/sub/task.py:1 imports _secret from pkg.core"]


def test_a_planted_cycle_is_caught_even_when_lazy(planted):
    (planted / "core.py").write_text("def helper():\n    from .sub import task\n    return task\n")
    assert import_cycles(planted) == [["pkg.core", "pkg.sub.task", "pkg.core"]]


def test_a_planted_dynamic_import_is_caught(planted):
    (planted / "sub" / "task.py").write_text("import importlib\n\nmod = importlib.import_module('.core', 'pkg')\n")
    assert dynamic_imports(planted) == ["pkg/sub/task.py:3 calls import_module"]


def test_a_planted_long_file_is_caught(planted):
    (planted / "core.py").write_text("x = 1\n" * (MAX_LINES + 1))
    assert long_files(planted) == [f"pkg/core.py: {MAX_LINES + 1} lines"]


def test_a_planted_cell_kind_branch_is_caught(planted):
    (planted / "sub" / "task.py").write_text("def gates(cell):\n    return 4 if cell == 'lstm' else 3\n")
    (planted / "cells.py").write_text("KINDS = {'lstm': 4}\n")  # the one place allowed to name them
    assert cell_kind_literals(planted, {"lstm", "gru"}) == ["pkg/sub/task.py:2 names the cell kind 'lstm'"]
