"""Is a question about sciatica and low back pain at all? A learned read-out over the query embedding.

Retrieval cosines cannot say it: a question about an ankle sprain sits as close to the heat-and-ice
article as an unusual back question does to its own. This logistic read-out was trained (by
`physio-assistant train-scope`, see `evals/scope_training.py`) on the knowledge base's own patient
phrasings and questions written for that purpose, never on the eval sets. Serving needs numpy only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class ScopeWeights:
    model: str  # the encoder the weights belong to
    data_hash: str  # of the training texts and labels: a stale file is caught by a test
    w: np.ndarray
    b: float
    threshold: float  # below this probability of "in scope", a question is declined
    report: dict[str, float]

    def save(self, path: Path) -> None:
        data = {
            "model": self.model,
            "data_hash": self.data_hash,
            "threshold": round(self.threshold, 4),
            "b": self.b,
            "w": [round(float(x), 6) for x in self.w],
            "report": self.report,
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> ScopeWeights:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            data["model"],
            data["data_hash"],
            np.asarray(data["w"], dtype=np.float32),
            float(data["b"]),
            float(data["threshold"]),
            data.get("report", {}),
        )


@dataclass(frozen=True)
class ScopeModel:
    weights: ScopeWeights

    def probability(self, vector: np.ndarray) -> float:
        """How likely the question is about sciatica or low back pain (0-1)."""
        z = float(vector @ self.weights.w) + self.weights.b
        return float(1.0 / (1.0 + np.exp(-z)))

    def outside(self, vector: np.ndarray) -> bool:
        return self.probability(vector) < self.weights.threshold


def scope_path(knowledge: Path) -> Path:
    return knowledge / "language" / "scope_model.json"


def load_scope(knowledge: Path, model_name: str) -> ScopeModel | None:
    """The shipped read-out, if there is one for this encoder (another encoder: none, and retrieval decides alone)."""
    path = scope_path(knowledge)
    if not path.is_file():
        return None
    weights = ScopeWeights.load(path)
    return ScopeModel(weights) if weights.model == model_name else None
