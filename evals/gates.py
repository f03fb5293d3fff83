"""Release gates as data (`evals/gates.yaml`), checked against a run's flat metrics.

A run's gates are its own (`gates:`) plus, for every dataset in the manifest, its kind's defaults
(`defaults:`) under the dataset's name, with the manifest line's overrides applied.

>>> check([Gate("triage.under_triage.emergency", "==", 0)], {"triage.under_triage.emergency": 2.0})[0].status
'broken'
>>> check([Gate("peer.pooled.lead", ">=", 0.1, target=True)], {"peer.pooled.lead": 0.02})[0].status
'missed'
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from evals.manifest import KINDS, Entry, Manifest, load_manifest

GATES_FILE = Path(__file__).with_name("gates.yaml")
OPS: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}


class Gate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    metric: str
    op: str = Field(pattern=r"^(==|!=|<=|>=|<|>)$")
    value: float
    why: str = ""
    only_if: str | None = None
    optional: bool = False
    target: bool = False  # reported, never fails the run (yet)

    def __init__(self, metric: str, op: str, value: float, **kw: object) -> None:
        super().__init__(metric=metric, op=op, value=value, **kw)

    @property
    def evaluator(self) -> str:
        return self.metric.split(".", 1)[0]

    def text(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gates: list[dict[str, object]]
    defaults: dict[str, list[dict[str, object]]] = Field(default_factory=dict)


@dataclass
class GateResult:
    gate: str
    metric: str
    op: str
    threshold: float
    value: float | None
    status: str  # passed | broken | missed (a target not met) | skipped
    why: str
    target: bool = False

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def read_gates(path: Path = GATES_FILE) -> tuple[list[Gate], dict[str, list[Gate]]]:
    """The file's own gates and its per-kind defaults (metrics relative to the dataset), validated."""
    data = _File.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    unknown = sorted(set(data.defaults) - set(KINDS))
    if unknown:
        raise ValueError(f"{path.name}: defaults for unknown kind(s) {unknown}; kinds are {', '.join(KINDS)}")
    own = [Gate(**g) for g in data.gates]  # type: ignore[arg-type]
    defaults = {kind: [Gate(**g) for g in gates] for kind, gates in data.defaults.items()}  # type: ignore[arg-type]
    return own, defaults


def dataset_gates(entry: Entry, defaults: Mapping[str, Sequence[Gate]]) -> list[Gate]:
    """One dataset's gates: its kind's defaults, then its manifest overrides (replace, add or drop)."""
    by_metric: dict[str, Gate] = {g.metric: g for g in defaults.get(entry.kind, [])}
    for metric, override in entry.gates.items():
        if override is None:
            if metric not in by_metric:
                raise ValueError(
                    f"manifest: {entry.name} drops {metric!r}, which is not a default gate of kind {entry.kind!r}"
                )
            del by_metric[metric]
        else:
            by_metric[metric] = Gate(metric, **override.model_dump())
    return [
        g.model_copy(update={"metric": f"{entry.name}.{g.metric}", "optional": g.optional or entry.optional})
        for g in by_metric.values()
    ]


def load_gates(path: Path = GATES_FILE, manifest: Manifest | None = None) -> list[Gate]:
    """Every gate of a run over `manifest`'s datasets (the shipped manifest by default), validated:
    an unknown key, operator or kind fails loudly."""
    own, defaults = read_gates(path)
    manifest = manifest or load_manifest()
    per_dataset = [g for entry in manifest.datasets for g in dataset_gates(entry, defaults)]
    return per_dataset + own


def check(gates: Sequence[Gate], metrics: Mapping[str, float], ran: set[str] | None = None) -> list[GateResult]:
    """Each gate's verdict. Gates of evaluators not in `ran` are skipped; a missing metric breaks a gate.

    A target gate is 'missed' instead of 'broken': the run still passes.
    """
    out = []
    for g in gates:
        value = metrics.get(g.metric)
        if ran is not None and g.evaluator not in ran or g.only_if is not None and metrics.get(g.only_if) != 1.0:
            status = "skipped"
        elif value is None:
            status = "skipped" if g.optional else "broken"
        else:
            status = "passed" if OPS[g.op](float(value), g.value) else "broken"
        if g.target and status == "broken":
            status = "missed"
        out.append(GateResult(g.text(), g.metric, g.op, g.value, value, status, g.why, g.target))
    return out
