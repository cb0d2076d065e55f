"""The layout shows the design: data flows config -> model -> experiments -> outputs.

The model imports nothing from the other wings, nothing in the package imports the
command line, and the model's modules import one another without circles, counting
imports made only for type checking (the simulation wires the parts together).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import REPO

PACKAGE = REPO / "simmodel"


def _runtime_imports(path: Path, *, typing_too: bool = False) -> list[tuple[int, str]]:
    """(level, module) of every import that runs (and, with ``typing_too``, of type-checking ones)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = (
        set()
        if typing_too
        else {
            id(child)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for child in ast.walk(node)
        }
    )
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            found += [(node.level, f"{base}.{a.name}" if base else a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(0, a.name) for a in node.names]
    return found


def _absolute(path: Path, level: int, module: str) -> str:
    if level == 0:
        return module
    parts = list(path.relative_to(REPO).with_suffix("").parts)[:-level]
    return ".".join([*parts, module])


def _imports(path: Path, *, typing_too: bool = False) -> set[str]:
    return {_absolute(path, level, m) for level, m in _runtime_imports(path, typing_too=typing_too)}


@pytest.mark.parametrize("path", sorted((PACKAGE / "model").glob("*.py")), ids=lambda p: p.stem)
def test_the_model_imports_nothing_from_the_other_wings(path: Path) -> None:
    for name in _imports(path):
        assert not name.startswith(
            ("simmodel.experiments", "simmodel.outputs", "simmodel.api", "simmodel.cli")
        ), name


def test_nothing_imports_the_command_line() -> None:
    for path in PACKAGE.rglob("*.py"):
        if path.name != "__main__.py":
            assert not any(n.startswith("simmodel.cli") for n in _imports(path)), path


def test_the_model_has_no_import_circles() -> None:
    modules = {p.stem: p for p in (PACKAGE / "model").glob("*.py") if p.stem != "__init__"}
    graph = {
        name: {
            n.split(".")[2]
            for n in _imports(path)
            if n.startswith("simmodel.model.") and n.split(".")[2] in modules
        }
        for name, path in modules.items()
    }

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(
            nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})) for nxt in graph[start]
        )

    circles = [name for name in graph if reaches(name, name, {name})]
    assert circles == [], f"import circles through {circles}"
