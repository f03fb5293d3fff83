"""The learned red-flag net: per flag family, a linear read-out and a nearest-neighbour memory of the
training conversations, over the bundled encoder's embeddings.

The rules catch what they spell out; the net carries paraphrase ("my husband noticed a wet chair I
hadn't felt"). Its read-out never counts what the rules' context analysis says is hypothetical,
general or someone else's, and it reads clauses that carry a denial apart from the rest, so that
"no fever, wee and poo normal" cannot alarm it. Those set-aside clauses are scored on their own too,
for a crisis family only: passive thoughts of death are mostly told as a hypothetical ("if a bus hit
me tomorrow I'd be relieved"). Serving needs numpy only; training lives in
`evals/triage_training.py`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant.canonical import canonical
from assistant.models import Turn
from assistant.sentences import sentences

# clause boundaries inside a sentence: where one statement ends and another may begin
_CLAUSE = re.compile(
    r"\s*(?:;|:(?=\s)|\s-\s|,\s*(?=(?:but|and|so|now|though|although|however|yet|except|apart)\b)|\s(?=(?:but|however|although|though|whereas|except)\b))\s*",
    re.IGNORECASE,
)
LIVE, DENIED, ASIDE = "live", "denied", "aside"


@dataclass(frozen=True)
class Unit:
    """One clause the net reads: its text, the user turn it came from, and whether it carries a denial."""

    text: str
    turn: int
    status: str  # live | denied | aside (hypothetical, general or someone else's)


def clauses(text: str) -> list[str]:
    """The clauses of a message: sentences, split again where 'but', 'however', ';' start a new statement."""
    out: list[str] = []
    for sent in sentences(canonical(text)):
        out.extend(c.strip(" ,.-") for c in _CLAUSE.split(sent) if len(c.strip(" ,.-")) >= 3)
    return out


MEMORY_K = 15  # neighbours a memory score reads
MEMORY_SHARPNESS = 20.0  # a neighbour's weight: exp(sharpness * (cosine - 1)); the closest count most


@dataclass
class Memory:
    """The training conversations' features (unit length, int8) and families: a nearest-neighbour
    score beside the linear read-out. A paraphrase of a reviewed example lands near it even where
    the linear read-out's one direction per family does not reach (leave-one-set-out, 2026-12-05:
    16 fewer red flags answered with a question and 24 fewer plain messages asked, none more missed)."""

    vectors: np.ndarray  # (examples, 2 * dimension) int8: unit vectors times 127
    labels: np.ndarray  # (examples, families) uint8: 1 where the family is present
    data_hash: str
    _unit: np.ndarray | None = field(default=None, repr=False)
    _halves: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def of(cls, X: np.ndarray, Y: np.ndarray, data_hash: str = "") -> Memory:
        return cls(np.round(_unit_rows(X) * 127).astype(np.int8), np.asarray(Y, dtype=np.uint8), data_hash)

    def score(self, Z: np.ndarray) -> np.ndarray:
        """(rows, families): the similarity-weighted share of each row's nearest examples that have the family."""
        if not len(Z):
            return np.zeros((0, self.labels.shape[1]), np.float32)
        return self._share(_unit_rows(Z).astype(np.float32) @ self._matrix().T)

    def score_clauses(self, C: np.ndarray) -> np.ndarray:
        """`score` of rows [c, c] (one clause read on its own), with half the arithmetic: the cosine of
        [c, c] with [a, b] is c . (a + b) / (sqrt(2) |c|)."""
        if not len(C):
            return np.zeros((0, self.labels.shape[1]), np.float32)
        d = self.vectors.shape[1] // 2
        if self._halves is None:
            m = self._matrix()
            self._halves = np.ascontiguousarray(m[:, :d] + m[:, d:])
        return self._share((_unit_rows(C) / np.sqrt(2.0)).astype(np.float32) @ self._halves.T)

    def _matrix(self) -> np.ndarray:
        if self._unit is None:
            self._unit = self.vectors.astype(np.float32) / 127.0
        return self._unit

    def _share(self, S: np.ndarray) -> np.ndarray:
        k = min(MEMORY_K, S.shape[1])
        if not k:
            return np.zeros((len(S), self.labels.shape[1]), np.float32)
        idx = np.argpartition(-S, k - 1, axis=1)[:, :k]
        w = np.exp(MEMORY_SHARPNESS * (np.take_along_axis(S, idx, 1) - 1.0))
        return np.asarray((w[:, :, None] * self.labels[idx]).sum(1) / w.sum(1, keepdims=True), np.float32)

    def save(self, path: Path) -> None:
        np.savez_compressed(path, vectors=self.vectors, labels=self.labels, data_hash=np.array(self.data_hash))

    @classmethod
    def load(cls, path: Path) -> Memory:
        with np.load(path, allow_pickle=False) as z:
            return cls(z["vectors"].astype(np.int8), z["labels"].astype(np.uint8), str(z["data_hash"]))


def _unit_rows(X: np.ndarray) -> np.ndarray:
    return np.asarray(X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12))


def memory_path(weights: Path) -> Path:
    return weights.with_name(weights.stem + "_memory.npz")


@dataclass
class NetWeights:
    """Per family: a weight vector over [whole live text, max-pooled live clauses], and a bias; with a
    `memory`, each probability is the mean of the read-out's and the memory's score."""

    families: list[str]
    weights: np.ndarray  # (families, 2 * dimension)
    bias: np.ndarray  # (families,)
    data_hash: str
    model_name: str
    meta: dict[str, object] = field(default_factory=dict)
    memory: Memory | None = None

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        """(rows, families) for feature rows X (rows, 2 * dimension)."""
        p = sigmoid(X @ self.weights.T + self.bias)
        if self.memory is None:
            return np.asarray(p, np.float32)
        return np.asarray((p + self.memory.score(X)) / 2, np.float32)

    def clause_probabilities(self, C: np.ndarray) -> np.ndarray:
        """`probabilities` of rows [c, c]: each clause read on its own (rows, dimension)."""
        d = self.weights.shape[1] // 2
        p = sigmoid(C @ (self.weights[:, :d] + self.weights[:, d:]).T + self.bias)
        if self.memory is None:
            return np.asarray(p, np.float32)
        return np.asarray((p + self.memory.score_clauses(C)) / 2, np.float32)

    def save(self, path: Path) -> None:
        body = {
            "about": "Written by `physio-assistant train-triage`; do not edit by hand.",
            "model_name": self.model_name,
            "data_hash": self.data_hash,
            "families": self.families,
            "bias": [round(float(b), 6) for b in self.bias],
            "weights": [[round(float(w), 6) for w in row] for row in self.weights],
            "memory": memory_path(path).name if self.memory is not None else None,
            "meta": self.meta,
        }
        path.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
        if self.memory is not None:
            self.memory.save(memory_path(path))

    @classmethod
    def load(cls, path: Path) -> NetWeights:
        """The weights, and their memory when they name one. A memory that is missing, unreadable or from
        other training data is an error: the thresholds in net.yaml were chosen for the two together."""
        body = json.loads(path.read_text(encoding="utf-8"))
        memory = None
        if body.get("memory"):
            mpath = path.with_name(str(body["memory"]))
            try:
                memory = Memory.load(mpath)
            except (OSError, ValueError, KeyError) as exc:
                raise ValueError(
                    f"the triage net's memory {mpath} is missing or unreadable ({exc}); "
                    "run `physio-assistant train-triage` to write it again"
                ) from exc
            if memory.data_hash != body["data_hash"]:
                raise ValueError(
                    f"the triage net's memory {mpath} belongs to other training data; "
                    "run `physio-assistant train-triage` to write both again"
                )
        return cls(
            families=list(body["families"]),
            weights=np.asarray(body["weights"], dtype=np.float32),
            bias=np.asarray(body["bias"], dtype=np.float32),
            data_hash=str(body["data_hash"]),
            model_name=str(body["model_name"]),
            meta=dict(body.get("meta") or {}),
            memory=memory,
        )


def features(whole: np.ndarray | None, clause_vectors: np.ndarray) -> np.ndarray:
    """[the whole live text, max over live clauses]: what the read-out sees for one conversation."""
    pooled = clause_vectors.max(axis=0)
    return np.concatenate([whole if whole is not None else pooled, pooled]).astype(np.float32)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -30, 30))))


@dataclass
class NetSignal:
    """What the net makes of a conversation, per family."""

    live: dict[str, float]  # probability from what the writer says is happening
    denied: dict[str, float]  # the strongest clause that carries a denial, read on its own
    evidence: dict[str, str]  # the live clause that scores highest per family
    denied_evidence: dict[str, str] = field(default_factory=dict)  # the clause behind `denied`, per family
    # the strongest set-aside clause (hypothetical, general, someone else's), read on its own, and its text
    aside: dict[str, float] = field(default_factory=dict)
    aside_evidence: dict[str, str] = field(default_factory=dict)


Encode = Callable[[list[str]], np.ndarray]


class RedFlagNet:
    """Scores a conversation's units with the trained read-out; embeddings cached per clause text."""

    def __init__(self, weights: NetWeights, encode: Encode, cache_size: int = 4096) -> None:
        self.w = weights
        self._encode = encode
        self._cache: dict[str, np.ndarray] = {}
        self._cache_size = cache_size

    @property
    def families(self) -> list[str]:
        return self.w.families

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        """The embeddings of `texts`, in order; new ones encoded in one batch and cached.

        The result is built from this call's own lookups, so a cache cleared to make room never
        loses a text this call needs (a full cache once raised KeyError on a red-flag message).
        """
        unique = dict.fromkeys(texts)
        found = {t: self._cache[t] for t in unique if t in self._cache}
        missing = [t for t in unique if t not in found]
        if missing:
            found.update(zip(missing, self._encode(missing), strict=True))
            if len(self._cache) + len(missing) > self._cache_size:
                self._cache.clear()
            self._cache.update((t, found[t]) for t in missing)
        return np.stack([found[t] for t in texts]) if texts else np.zeros((0, self.w.weights.shape[1] // 2), np.float32)

    def cached(self, text: str) -> np.ndarray | None:
        """The embedding of a text the net has just read, if any (retrieval reuses the message's)."""
        return self._cache.get(text)

    def score(self, units: Sequence[Unit], current_turn: int, message: str = "") -> NetSignal:
        """Per family: the live probability, the strongest denied and set-aside clauses, and the live
        clause behind it."""
        live = [u for u in units if u.status == LIVE]
        denied = [u for u in units if u.status == DENIED]
        aside = [u for u in units if u.status == ASIDE]
        whole_text = whole_of(units, current_turn, message)
        texts = [u.text for u in [*live, *denied, *aside]]
        vecs = self.vectors(texts + ([whole_text] if whole_text else []))
        a, b, c = len(live), len(live) + len(denied), len(texts)
        return score_vectors(
            self.w,
            vecs[:a],
            vecs[-1] if whole_text else None,
            vecs[a:b],
            [u.text for u in live],
            [u.text for u in denied],
            vecs[b:c],
            [u.text for u in aside],
        )


def whole_of(units: Sequence[Unit], current_turn: int, message: str = "") -> str:
    """The current message as one text for the read-out: the message itself when every clause of it is
    live (so retrieval can reuse its embedding), else its live clauses joined."""
    mine = [u for u in units if u.turn == current_turn]
    if message and mine and all(u.status == LIVE for u in mine) and len(mine) == len(clauses(message)):
        return canonical(message)
    return " ".join(u.text for u in mine if u.status == LIVE)


def score_vectors(
    w: NetWeights,
    live: np.ndarray,
    whole: np.ndarray | None,
    denied: np.ndarray,
    live_texts: Sequence[str],
    denied_texts: Sequence[str] = (),
    aside: np.ndarray | None = None,
    aside_texts: Sequence[str] = (),
) -> NetSignal:
    """The net's signal from embeddings already computed (the evals reuse one encoding for many trainings).
    Every row is scored in one call: the memory reads its matrix once per message, not once per part."""
    out = NetSignal(live={f: 0.0 for f in w.families}, denied={f: 0.0 for f in w.families}, evidence={})
    d = w.weights.shape[1] // 2
    parts = [np.asarray(p, np.float32).reshape(-1, d) for p in (live, denied, () if aside is None else aside)]
    scores = w.clause_probabilities(np.concatenate(parts))
    a, b = len(parts[0]), len(parts[0]) + len(parts[1])
    if len(live):
        p, per_clause = w.probabilities(features(whole, live)[None])[0], scores[:a]  # (clauses, families)
        for j, fam in enumerate(w.families):
            out.live[fam] = float(p[j])
            out.evidence[fam] = live_texts[int(per_clause[:, j].argmax())]
    out.denied, out.denied_evidence = _strongest(w.families, scores[a:b], denied_texts)
    out.aside, out.aside_evidence = _strongest(w.families, scores[b:], aside_texts)
    return out


def _strongest(
    families: Sequence[str], per: np.ndarray, texts: Sequence[str]
) -> tuple[dict[str, float], dict[str, str]]:
    """Per family: the highest score of any one clause read on its own, and that clause."""
    scores = {f: 0.0 for f in families}
    evidence: dict[str, str] = {}
    if not len(per):
        return scores, evidence
    for j, fam in enumerate(families):
        k = int(per[:, j].argmax())
        scores[fam] = float(per[k, j])
        if k < len(texts):
            evidence[fam] = texts[k]
    return scores, evidence


def user_turns(message: str, history: Sequence[Turn] | None) -> list[tuple[int, str]]:
    """(index, text) of every user turn, the new message last."""
    turns = [*(history or []), Turn(role="user", content=message)]
    return [(i, t.content) for i, t in enumerate(turns) if t.role == "user" and t.content.strip()]
