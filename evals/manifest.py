"""Which datasets the eval has, and what kind each one is: `evals/datasets/manifest.yaml`.

Adding a dataset is one JSONL file plus one manifest line naming its kind. The runner evaluates
every dataset of a kind with that kind's evaluator, `evals.gates` applies the kind's default gates
(`defaults:` in `evals/gates.yaml`) to it, and the tests check every file is listed.

>>> m = Manifest(datasets=[Entry(name="triage_carers", kind="triage")])
>>> [e.name for e in m.of_kind("triage")]
['triage_carers']

A folder without a manifest (a test's temporary folder) is read by the naming convention:
`triage_train*` is training-only, `triage*` triage, `retrieval*` retrieval, and so on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

DATASETS = Path(__file__).with_name("datasets")
MANIFEST = "manifest.yaml"
Kind = Literal["triage", "retrieval", "answers", "scope", "regression", "sections", "training-only", "scope-training"]
KINDS: tuple[str, ...] = (
    "triage",
    "retrieval",
    "answers",
    "scope",
    "regression",
    "sections",
    "training-only",
    "scope-training",
)
# the fields every row of a dataset of that kind must carry
REQUIRED: dict[str, tuple[str, ...]] = {
    "triage": ("id", "message", "expected_triage", "negated", "kind", "source"),
    "training-only": ("id", "message", "expected_triage"),
    "retrieval": ("id", "message", "relevant", "source"),
    "answers": ("id", "message", "kind", "expect", "source"),
    "regression": ("id", "message", "expected_answer"),
    "scope": ("id", "message", "expect"),
    "sections": ("id", "message", "article", "best"),
    "scope-training": ("id", "message", "label"),
}
# file-name prefix -> kind, for a folder without a manifest (first match wins)
_CONVENTION = (
    ("triage_train", "training-only"),
    ("triage", "triage"),
    ("retrieval", "retrieval"),
    ("answers", "answers"),
    ("scope_train", "scope-training"),
    ("scope", "scope"),
    ("regression", "regression"),
    ("sections", "sections"),
)


class DatasetError(ValueError):
    """A dataset or manifest line that cannot be evaluated (bad JSON, a missing field, a repeated id)."""


class GateOverride(BaseModel):
    """A dataset's own gate on one of its metrics (replacing the kind's default for that metric)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    op: str = Field(pattern=r"^(==|!=|<=|>=|<|>)$")
    value: float
    why: str = ""
    target: bool = False


class Entry(BaseModel):
    """One manifest line.

    `gates`: metric (relative to the dataset) -> its own gate, or null to drop the kind's default
    for that metric. `optional`: the file may be absent (its gates are skipped then).
    `peer`: a held-out retrieval set the LangChain peer is measured on (evaluator `peer`).
    `held_out`: a triage set the red-flag net never trains on, so the shipped net meets it as it
    meets new wording (its figures stay first-contact figures until someone moves it into training).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=r"^[a-z0-9_]+$")
    kind: Kind
    note: str = ""
    optional: bool = False
    peer: bool = False
    held_out: bool = False
    gates: dict[str, GateOverride | None] = Field(default_factory=dict)

    def model_post_init(self, __context: Any) -> None:
        if self.peer and self.kind != "retrieval":
            raise ValueError(
                f"{self.name}: `peer: true` is for retrieval sets (rows with relevant and also_ok), not {self.kind}"
            )
        if self.held_out and self.kind != "triage":
            raise ValueError(f"{self.name}: `held_out: true` is for triage sets (kept out of the net's training)")

    @property
    def file(self) -> str:
        return f"{self.name}.jsonl"


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    datasets: list[Entry]
    folder: Path | None = Field(default=None, exclude=True)

    def model_post_init(self, __context: Any) -> None:
        names = [e.name for e in self.datasets]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise DatasetError(f"{MANIFEST}: dataset(s) listed twice: {repeated}")

    def of_kind(self, *kinds: str) -> list[Entry]:
        return [e for e in self.datasets if e.kind in kinds]

    def get(self, name: str) -> Entry | None:
        return next((e for e in self.datasets if e.name == name), None)

    def path(self, entry: Entry) -> Path:
        return (self.folder or DATASETS) / entry.file

    def unlisted(self) -> list[str]:
        """JSONL files in the folder that no manifest line names (they would never be evaluated)."""
        folder = self.folder or DATASETS
        listed = {e.file for e in self.datasets}
        return sorted(p.name for p in folder.glob("*.jsonl") if p.name not in listed)

    def as_list(self) -> list[dict[str, str]]:
        """Name and kind of every dataset, in manifest order (what results.json records)."""
        return [{"name": e.name, "kind": e.kind} for e in self.datasets]


def by_convention(folder: Path) -> Manifest:
    """The manifest a folder would have if every file followed the naming convention."""
    entries = []
    for path in sorted(folder.glob("*.jsonl"), key=lambda p: p.name):
        kind = next((k for prefix, k in _CONVENTION if path.stem.startswith(prefix)), None)
        if kind is not None:
            entries.append(Entry(name=path.stem, kind=kind))  # type: ignore[arg-type]
    return Manifest(datasets=entries, folder=folder)


def load_manifest(folder: Path | None = None) -> Manifest:
    """The folder's `manifest.yaml`, validated (an unknown key or kind fails loudly); else the convention."""
    folder = folder or DATASETS
    path = folder / MANIFEST
    if not path.is_file():
        return by_convention(folder)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    try:
        manifest = Manifest.model_validate(data)
    except ValueError as exc:
        raise DatasetError(f"{path}: {exc}") from exc
    manifest.folder = folder
    return manifest


def load_rows(path: Path, required: Sequence[str]) -> list[dict[str, Any]]:
    """The rows of one JSONL dataset; every line must carry the `required` fields and a unique id."""
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path.name}:{n}: not valid JSON ({exc.msg})") from exc
        missing = [k for k in required if k not in row]
        if missing:
            raise DatasetError(f"{path.name}:{n}: missing {missing}")
        if str(row["id"]) in seen:
            raise DatasetError(f"{path.name}:{n}: id {row['id']!r} is repeated")
        seen.add(str(row["id"]))
        rows.append(row)
    return rows
