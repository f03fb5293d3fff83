"""Training the scope read-out (`assistant/scope.py`): which questions the knowledge base is for.

In scope: every article's title and patient questions, every section's patient phrasings, the
team's retrieval questions (not the follow-ups), and the "in" rows of `datasets/scope_train.jsonl`. Out of scope: the
"out" rows of that file (other body parts and conditions, products and remedies, admin the clinic
cannot do by chat, general chit-chat). The eval's `scope.jsonl` and the held-out retrieval sets are
never read here: they measure the result.

The threshold is chosen by 5-fold cross-validation so that at most `IN_BUDGET` of the in-scope
questions written as questions (not the knowledge base's own phrasings) would be declined.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.content import KnowledgeBase
from assistant.scope import ScopeWeights

DATASETS = Path(__file__).with_name("datasets")
SEED = 20261203
IN_BUDGET = (
    0.05  # in-scope questions declined, out of fold (chosen with C by cross-validation on the training texts only)
)
C = 4.0


@dataclass(frozen=True)
class Labelled:
    text: str
    inside: bool
    origin: str  # "knowledge", "retrieval", "scope_train"


def _jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_labelled(kb: KnowledgeBase, datasets: Path = DATASETS) -> list[Labelled]:
    """Every training text once (first label kept)."""
    out: list[Labelled] = []
    seen: set[str] = set()

    def add(text: str, inside: bool, origin: str) -> None:
        key = " ".join(text.lower().split())
        if key and key not in seen:
            seen.add(key)
            out.append(Labelled(text, inside, origin))

    for article in kb.articles.values():
        add(article.title, True, "knowledge")
        for q in article.questions:
            add(q, True, "knowledge")
        for section in article.sections():
            for q in section.questions:
                add(q, True, "knowledge")
    for row in _jsonl(datasets / "retrieval.jsonl"):
        if not row.get("history"):  # a follow-up ("how many should I do?") says nothing about scope alone
            add(str(row["message"]), True, "retrieval")
    for row in _jsonl(datasets / "scope_train.jsonl"):
        add(str(row["message"]), row["label"] == "in", "scope_train")
    return out


def data_hash(items: list[Labelled], model_name: str) -> str:
    text = model_name + "\n" + "\n".join(f"{int(i.inside)}\t{i.text}" for i in items)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fit(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=C, class_weight="balanced", max_iter=3000, random_state=SEED)
    clf.fit(X, y)
    return clf.coef_[0].astype(np.float32), float(clf.intercept_[0])


def out_of_fold(X: np.ndarray, y: np.ndarray, folds: int = 5) -> np.ndarray:
    fold = np.random.default_rng(SEED).permutation(len(y)) % folds
    probs = np.zeros(len(y), dtype=np.float64)
    for k in range(folds):
        w, b = fit(X[fold != k], y[fold != k])
        probs[fold == k] = 1.0 / (1.0 + np.exp(-(X[fold == k] @ w + b)))
    return probs


def choose_threshold(probs: np.ndarray, items: list[Labelled]) -> float:
    """The highest threshold that declines at most IN_BUDGET of the in-scope questions people wrote."""
    written = np.array([i.inside and i.origin != "knowledge" for i in items])
    inside_probs = np.sort(probs[written])
    k = int(np.floor(IN_BUDGET * len(inside_probs)))
    return float(inside_probs[k]) if len(inside_probs) else 0.5


def train(
    kb: KnowledgeBase, encode: Callable[[list[str]], np.ndarray], model_name: str, say: Callable[[str], None] = print
) -> ScopeWeights:
    items = load_labelled(kb)
    y = np.array([i.inside for i in items], dtype=np.int64)
    say(f"{len(items)} texts ({int(y.sum())} in scope, {int((1 - y).sum())} outside); encoding...")
    X = np.asarray(encode([i.text for i in items]), dtype=np.float64)
    probs = out_of_fold(X, y)
    threshold = choose_threshold(probs, items)
    outside = y == 0
    report = {
        "texts": float(len(items)),
        "outside": float(outside.sum()),
        "cv_outside_declined": float(np.mean(probs[outside] < threshold)) if outside.any() else 0.0,
        "cv_inside_declined": float(np.mean(probs[~outside] < threshold)),
    }
    w, b = fit(X, y)
    return ScopeWeights(model_name, data_hash(items, model_name), w, b, threshold, report)
