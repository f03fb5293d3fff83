"""Release gates as data (`evals/gates.yaml`), checked against a run's flat metrics.

>>> check([Gate("triage.under_triage.emergency", "==", 0)], {"triage.under_triage.emergency": 2.0})[0].status
'broken'
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

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


@dataclass
class GateResult:
    gate: str
    metric: str
    op: str
    threshold: float
    value: float | None
    status: str  # passed | broken | skipped
    why: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def load_gates(path: Path = GATES_FILE) -> list[Gate]:
    """The gates file, validated: an unknown key or operator fails loudly."""
    data = _File.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    return [Gate(**g) for g in data.gates]  # type: ignore[arg-type]


def check(gates: Sequence[Gate], metrics: Mapping[str, float], ran: set[str] | None = None) -> list[GateResult]:
    """Each gate's verdict. Gates of evaluators not in `ran` are skipped; a missing metric breaks a gate."""
    out = []
    for g in gates:
        value = metrics.get(g.metric)
        if ran is not None and g.evaluator not in ran:
            status = "skipped"
        elif g.only_if is not None and metrics.get(g.only_if) != 1.0:
            status = "skipped"
        elif value is None:
            status = "skipped" if g.optional else "broken"
        else:
            status = "passed" if OPS[g.op](float(value), g.value) else "broken"
        out.append(GateResult(g.text(), g.metric, g.op, g.value, value, status, g.why))
    return out
