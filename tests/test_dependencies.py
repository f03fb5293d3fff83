"""Declared equals used: what the code imports is declared in pyproject.toml, and what is declared is imported.

Imports are read from the source (every `import` statement, lazy ones included) and mapped to the
distributions that provide them with `importlib.metadata.packages_distributions()`.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("assistant", "ingest", "evals")  # the installed packages
OWN = {*SHIPPED, "tests", "physio_knowledge"}
OPTIONAL = ("llm", "postgres")  # extras the shipped code may import from, behind a guard
# Declared but never imported by name, and why each is still needed.
NOT_IMPORTED = {
    "onnx": "torch.onnx.export and onnxruntime's quantiser write graphs through it",
    "tzdata": "zoneinfo's time zones where the system has none",
    "psycopg": "the driver SQLAlchemy loads for postgresql+psycopg:// URLs",
    "pytest-timeout": "a pytest plugin (the `timeout` setting)",
    "pip-audit": "scripts/audit.sh",
    "ruff": "scripts/test.sh: lint and format check",
    "mypy": "scripts/test.sh: type check",
    "types-pyyaml": "PyYAML's types, for mypy",
}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(requirements: list[str]) -> set[str]:
    return {canonical(re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", r).group(1)) for r in requirements}  # type: ignore[union-attr]


@cache
def declared() -> dict[str, set[str]]:
    """'main' and each extra -> the distributions it declares."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    groups = {"main": requirement_names(project["dependencies"])}
    groups.update({extra: requirement_names(reqs) for extra, reqs in project["optional-dependencies"].items()})
    return groups


def imported(folders: tuple[str, ...]) -> dict[str, set[str]]:
    """Top-level names imported outside the standard library and this project -> the files importing them."""
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in OWN:
                        found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def undeclared(folders: tuple[str, ...], allowed: set[str]) -> list[str]:
    providers = importlib.metadata.packages_distributions()
    problems = []
    for module, files in sorted(imported(folders).items()):
        dists = {canonical(d) for d in providers.get(module, [])}
        if not dists:
            problems.append(
                f"{module} (imported by {', '.join(sorted(files))}) is not installed: declare it and reinstall"
            )
        elif not dists & allowed:
            problems.append(
                f"{module} (imported by {', '.join(sorted(files))}) comes from {', '.join(sorted(dists))}: declare it"
            )
    return problems


def test_everything_the_shipped_code_imports_is_declared() -> None:
    allowed = declared()["main"].union(*(declared()[extra] for extra in OPTIONAL))
    assert undeclared(SHIPPED, allowed) == []


def test_everything_the_tests_import_is_declared() -> None:
    assert undeclared(("tests",), set().union(*declared().values())) == []


def test_everything_declared_is_imported_or_says_why_not() -> None:
    providers = importlib.metadata.packages_distributions()
    used = {canonical(d) for module in imported((*SHIPPED, "tests")) for d in providers.get(module, [])}
    unused = sorted(set().union(*declared().values()) - used - NOT_IMPORTED.keys())
    assert unused == [], "declared in pyproject.toml and never imported: drop them, or say why in NOT_IMPORTED"


def test_the_lock_pins_every_declared_distribution() -> None:
    """requirements.lock (scripts/lock.sh) is what `make install` resolved; scripts/audit.sh audits it."""
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    pinned = {canonical(line.split("==")[0]) for line in lock.splitlines() if "==" in line and not line.startswith("#")}
    assert sorted(set().union(*declared().values()) - pinned) == []
