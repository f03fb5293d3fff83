"""The answer units of the store: whole sections, found by their text and their patient phrasings.

An answer quotes sections verbatim. Retrieval first finds the article (hybrid search over every
chunk); this module then ranks the sections of the best articles for the question, using the
vectors the store already holds (one for the section's text, one per patient phrasing) and the
words the question shares with the section's heading and phrasings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from assistant.store import KnowledgeIndex, StoredChunk

ANSWER_KINDS = ("article", "document")


@dataclass(frozen=True)
class SectionRef:
    """One section as stored: where it comes from, its heading and its exact text."""

    id: str
    source_id: str
    title: str  # the article's title
    heading: str
    text: str
    order: int
    kind: str
    status: str
    phrasings: tuple[str, ...] = ()

    @property
    def words(self) -> int:
        return len(self.text.split())


@dataclass(frozen=True)
class Scored:
    section: SectionRef
    score: float


@dataclass
class SectionIndex:
    """Every answer section of the store, with the rows of its vectors in the store's matrix."""

    index: KnowledgeIndex
    sections: dict[str, SectionRef] = field(default_factory=dict)
    by_source: dict[str, list[str]] = field(default_factory=dict)
    _rows: dict[str, list[int]] = field(default_factory=dict)
    _words: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def build(cls, index: KnowledgeIndex, tokens: Callable[[str], list[str]]) -> SectionIndex:
        texts: dict[str, StoredChunk] = {}  # the section's own text (not a phrasing)
        phrasings: dict[str, list[str]] = {}
        rows: dict[str, list[int]] = {}
        for chunk in index.chunks:
            meta = chunk.meta
            sid = meta.get("section_id")
            if not sid or meta.get("kind") not in ANSWER_KINDS:
                continue
            rows.setdefault(str(sid), []).append(index.row[chunk.id])
            if meta.get("role") == "phrasing":
                phrasings.setdefault(str(sid), []).append(chunk.text)
            else:
                texts[str(sid)] = chunk
        out = cls(index)
        for sid, stored in texts.items():
            m = stored.meta
            ref = SectionRef(
                id=sid,
                source_id=str(m.get("source_id")),
                title=str(m.get("title", "")),
                heading=str(m.get("section", "")),
                text=stored.text,
                order=int(m.get("order", 0)),
                kind=str(m.get("kind", "article")),
                status=str(m.get("status", "draft")),
                phrasings=tuple(phrasings.get(sid, ())),
            )
            out.sections[sid] = ref
            out._rows[sid] = rows[sid]
            out._words[sid] = set(tokens(" ".join([ref.heading, *ref.phrasings])))
            out.by_source.setdefault(ref.source_id, []).append(sid)
        for ids in out.by_source.values():
            ids.sort(key=lambda s: out.sections[s].order)
        return out

    def of(self, source_id: str) -> list[SectionRef]:
        """A source's sections in reading order."""
        return [self.sections[s] for s in self.by_source.get(source_id, [])]

    def rank(self, vector: np.ndarray, query_tokens: Sequence[str], source_ids: Sequence[str]) -> list[Scored]:
        """The sections of the given sources, best first for this question.

        Score: the best cosine between the question and the section's text or any of its phrasings,
        plus a little for each question word found in the heading or phrasings (names matter:
        'McKenzie', 'TENS')."""
        words = set(query_tokens)
        out: list[Scored] = []
        for source_id in source_ids:
            for sid in self.by_source.get(source_id, []):
                cos = float(np.max(self.index.vectors[self._rows[sid]] @ vector))
                overlap = len(words & self._words[sid])
                out.append(Scored(self.sections[sid], cos + 0.02 * min(overlap, 3)))
        out.sort(key=lambda s: -s.score)
        return out


def quoted_in(text: str, sections: Sequence[SectionRef]) -> list[SectionRef]:
    """The sections whose whole text appears in `text` (an earlier reply quoted them verbatim)."""
    return [s for s in sections if s.text and s.text in text]
