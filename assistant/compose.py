"""Grounded answers: sentences chosen from the retrieved sources, each traceable to its chunk.

The extractive composer needs no LLM. An optional LangChain chat model may draft instead; every
drafted sentence must then be close to a source sentence or it is dropped.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.embeddings import Embedder
from assistant.store import KnowledgeIndex

_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+")
_MD = re.compile(r"\*\*|__|`")
_ANAPHOR = re.compile(r"^(?:So|This|That|These|Those|It|Its|They|Their|There|Here|He|She|But|And|Also|Then|Instead|However|Both|Each|Such)\b")


@dataclass(frozen=True)
class Sentence:
    text: str
    chunk_id: str
    source_id: str


def _blocks(text: str) -> list[str]:
    """Paragraphs and list items, with hard-wrapped lines joined back together."""
    blocks: list[str] = []
    current: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or _BULLET.match(raw):
            if current:
                blocks.append(" ".join(current))
            current = [] if not line or line.startswith("#") else [line]
            continue
        current.append(line)
    if current:
        blocks.append(" ".join(current))
    return blocks


def split_sentences(text: str) -> list[str]:
    """Plain sentences from a Markdown chunk: bullets become sentences, headings are dropped."""
    out: list[str] = []
    for block in _blocks(text):
        block = _MD.sub("", _BULLET.sub("", block)).strip()
        for s in _SPLIT.split(block):
            s = s.strip()
            # lower-case starts are list fragments; a trailing colon introduces a list we dropped
            if len(s.split()) >= 6 and s[0].isupper() and not s.endswith(":"):
                out.append(s if s[-1] in ".!?" else s + ".")
    return out


class SentenceBank:
    """Every answerable sentence of the store, embedded once (cached on disk per store version)."""

    def __init__(self, sentences: list[Sentence], vectors: np.ndarray) -> None:
        self.sentences = sentences
        self.vectors = vectors
        self.by_source: dict[str, list[int]] = {}
        for i, s in enumerate(sentences):
            self.by_source.setdefault(s.source_id, []).append(i)

    @classmethod
    def build(cls, index: KnowledgeIndex, embedder: Embedder, cache_dir: Path | None = None) -> "SentenceBank":
        sentences: list[Sentence] = []
        for chunk in index.chunks:
            if chunk.meta.get("kind") not in ("article", "document"):
                continue
            if chunk.meta.get("section") == "questions":
                continue  # summaries describe the article; answers come from its body
            text = chunk.text
            sid = str(chunk.meta.get("source_id"))
            sentences.extend(Sentence(s, chunk.id, sid) for s in split_sentences(text))
        key = hashlib.sha256("\n".join(f"{s.chunk_id}:{s.text}" for s in sentences).encode()).hexdigest()[:16]
        cache = cache_dir / f"sentences-{embedder.model_name.replace('/', '_').replace(':', '_')}-{key}.npy" if cache_dir else None
        vectors: np.ndarray | None = None
        if cache is not None and cache.is_file():
            try:
                vectors = np.load(cache)
                if vectors.shape != (len(sentences), embedder.dimension):
                    vectors = None
            except (OSError, ValueError):
                vectors = None
        if vectors is None:
            vectors = embedder.encode([s.text for s in sentences])
            if cache is not None:
                try:
                    cache.parent.mkdir(parents=True, exist_ok=True)
                    tmp = cache.with_suffix(".tmp.npy")
                    np.save(tmp, vectors)
                    tmp.replace(cache)
                except OSError:
                    pass  # a read-only data folder only costs start-up time
        return cls(sentences, vectors)

    def select(self, query: np.ndarray, source_ids: list[str], limit: int = 4, floor: float = 0.25) -> list[Sentence]:
        """2-`limit` sentences most relevant to the query, without near-repeats; best first."""
        rows = [i for rank, sid in enumerate(source_ids) for i in self.by_source.get(sid, [])]
        if not rows:
            return []
        order = {sid: rank for rank, sid in enumerate(source_ids)}
        penalty = np.array([0.04 * order[self.sentences[i].source_id] + (0.08 if _ANAPHOR.match(self.sentences[i].text) else 0.0) for i in rows])
        scores = self.vectors[rows] @ query - penalty
        ranked = [rows[j] for j in np.argsort(-scores)]
        best = float(scores.max())
        chosen: list[int] = []
        score_of = dict(zip(rows, scores.tolist(), strict=True))
        for i in ranked:
            score = score_of[i]
            if len(chosen) >= 2 and (score < floor or score < best - 0.22):
                break
            if any(float(self.vectors[i] @ self.vectors[j]) > 0.82 for j in chosen):
                continue
            chosen.append(i)
            if len(chosen) >= limit:
                break
        return [self.sentences[i] for i in chosen]

    def support(self, vector: np.ndarray, source_ids: list[str]) -> tuple[float, Sentence | None]:
        """How well one drafted sentence is backed by the given sources (best cosine, and by which)."""
        rows = [i for sid in source_ids for i in self.by_source.get(sid, [])]
        if not rows:
            return 0.0, None
        sims = self.vectors[rows] @ vector
        j = int(np.argmax(sims))
        return float(sims[j]), self.sentences[rows[j]]


def extractive_answer(bank: SentenceBank, query: np.ndarray, source_ids: list[str], limit: int = 4) -> list[Sentence]:
    return bank.select(query, source_ids, limit=limit)


@dataclass
class Grounded:
    text: str
    provenance: list[Sentence]
    dropped: list[str]


def ground_draft(draft: str, bank: SentenceBank, embedder: Embedder, source_ids: list[str], threshold: float = 0.6) -> Grounded:
    """Keep only drafted sentences that a source sentence supports (cosine >= threshold)."""
    pieces = [p.strip() for p in _SPLIT.split(" ".join(draft.split())) if p.strip()]
    if not pieces:
        return Grounded("", [], [])
    vecs = embedder.encode(pieces)
    kept, prov, dropped = [], [], []
    for piece, vec in zip(pieces, vecs, strict=True):
        score, sentence = bank.support(vec, source_ids)
        if sentence is not None and score >= threshold:
            kept.append(piece)
            prov.append(sentence)
        else:
            dropped.append(piece)
    return Grounded(" ".join(kept), prov, dropped)
