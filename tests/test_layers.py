"""The serving package never imports the offline path (issue 14): `ingest` is handed in, not imported.

Every module under assistant/ is parsed, and every import in it is read, at any depth (a function's
lazy import counts as much as one at the top). The command line is the one exception: it is the
front end over all three packages (`ingest`, `eval` and `bench` are its commands), and it hands the
store builder to the assistant through `assistant.seams.StoreBuilder`; even there the import is lazy,
so importing `assistant.cli` loads no part of `ingest`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "assistant"
FRONT_END = PACKAGE / "cli.py"


def _imports(tree: ast.AST) -> list[tuple[str, int, bool]]:
    """(module, line, at module level) of every import, including `importlib.import_module("...")`."""
    top = {id(node) for node in getattr(tree, "body", [])}
    found: list[tuple[str, int, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, node.lineno, id(node) in top))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.append((node.args[0].value, node.lineno, False))
    return found


def _is_ingest(module: str) -> bool:
    return module == "ingest" or module.startswith("ingest.")


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_assistant_does_not_import_ingest(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    hits = [(m, line, top) for m, line, top in _imports(tree) if _is_ingest(m)]
    if path == FRONT_END:
        assert not [h for h in hits if h[2]], f"{path.name} imports ingest at module level: {hits}"
        return
    assert not hits, f"{path.relative_to(ROOT)} imports the offline path: " + ", ".join(
        f"{m} (line {line})" for m, line, _ in hits
    )


def test_the_check_sees_lazy_imports() -> None:
    """The reader finds an import inside a function and one through importlib (the shapes it must catch)."""
    source = "def f():\n    from ingest.pipeline import ingest\n    importlib.import_module('ingest.chunk')\n"
    found = [m for m, _, _ in _imports(ast.parse(source))]
    assert found == ["ingest.pipeline", "ingest.chunk"]
