"""Hybrid retrieval: dense (Chroma, cosine) + BM25 (bm25s), fused by reciprocal rank fusion.

Results are deduplicated per article; a clinician-approved answer to a near-identical question
wins outright; follow-ups are rewritten from the conversation before searching.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from assistant.models import Turn
from assistant.spelling import QueryCorrector, edit_distance, known_words
from assistant.store import KnowledgeIndex

IN_MEMORY_LIMIT = 50_000  # chunks; beyond this, dense search goes through Chroma's HNSW index
RRF_K = 10  # small: our lists are short and the top ranks carry the signal
_WORD = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "can",
        "could",
        "do",
        "does",
        "did",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "just",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "am",
        "im",
        "ive",
        "dont",
        "cant",
        "ok",
        "okay",
        "please",
        "thanks",
        "thank",
        "hi",
        "hello",
        "should",
        "shall",
        "may",
        "might",
        "much",
        "many",
        "very",
        "really",
        "get",
        "got",
        "go",
        "going",
    ]
)
# Question words that say what is asked, not what about: never evidence of a missing topic.
ASKING = frozenset(
    [
        "affect",
        "affects",
        "help",
        "helps",
        "helpful",
        "cause",
        "causes",
        "make",
        "makes",
        "good",
        "bad",
        "safe",
        "worse",
        "better",
        "work",
        "works",
        "tips",
        "tip",
        "advice",
        "need",
        "use",
        "try",
        "take",
        "feel",
        "know",
        "think",
        "normal",
        "right",
        "wrong",
        "best",
        "anything",
        "something",
        "ever",
        "still",
        "again",
        "therapy",
        "therapies",
        "treatment",
        "treatments",
        "worth",
        "trying",
        "using",
        "product",
        "products",
        "husband",
        "wife",
        "partner",
        "mum",
        "mom",
        "dad",
        "son",
        "daughter",
        "friend",
        "mother",
        "father",
        "brother",
        "sister",
        "people",
        "someone",
        "person",
    ]
)


@lru_cache(maxsize=1)
def _english_by_initial() -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    for w in known_words():
        index.setdefault(w[:1], []).append(w)
    return index


def stem(word: str) -> str:
    """A small suffix stripper: enough for 'stretches'/'stretching' to meet 'stretch'."""
    for suffix in ("ings", "ing", "edly", "ied", "ies", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            if suffix in ("ied", "ies"):
                base += "y"
            if len(base) > 3 and base[-1] == base[-2] and base[-1] not in "ls":
                base = base[:-1]
            return base
    return word


def tokens(text: str) -> list[str]:
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


@dataclass
class Hit:
    """One source (article, exercise card, document or approved answer) found for a query."""

    source_id: str
    title: str
    kind: str
    status: str
    score: float
    cosine: float
    chunk_ids: list[str] = field(default_factory=list)


@dataclass
class Approved:
    id: int
    question: str
    answer: str
    reviewer: str
    vector: np.ndarray


class HybridRetriever:
    """Searches one loaded `KnowledgeIndex`; holds the BM25 index and the approved answers."""

    def __init__(self, index: KnowledgeIndex) -> None:
        import bm25s

        self.index = index
        self._ids = [c.id for c in index.chunks]
        corpus = [
            tokens(f"{c.meta.get('title', '')} {c.meta.get('section', '')} {c.text}") or ["empty"] for c in index.chunks
        ]
        # BM25 reads the articles, not the patient phrasings: those are short, and a shared word
        # in a 10-word phrasing outranks the section that answers (they serve the dense search)
        lexical = [i for i, c in enumerate(index.chunks) if c.meta.get("role") != "phrasing"]
        self._sparse_ids = [self._ids[i] for i in lexical]
        self._bm25 = bm25s.BM25()
        self._bm25.index([corpus[i] for i in lexical], show_progress=False)
        self.approved: list[Approved] = []
        self._last: tuple[tuple[bytes, str, str], list[tuple[str, float]], list[tuple[str, float]]] | None = None
        sources: dict[str, set[str]] = {}
        for chunk, toks in zip(index.chunks, corpus, strict=True):
            sources.setdefault(str(chunk.meta.get("source_id")), set()).update(toks)
        self._df: dict[str, int] = {}
        for words in sources.values():
            for t in words:
                self._df[t] = self._df.get(t, 0) + 1
        self._generic_df = max(3, int(0.15 * len(sources)))
        # surface words of the knowledge base, for correcting patients' typos in queries ("streches")
        surface: dict[str, int] = {}
        for chunk in index.chunks:
            for w in _WORD.findall(f"{chunk.meta.get('title', '')} {chunk.text}".lower()):
                if len(w) >= 4 and w.isalpha():
                    surface[w] = surface.get(w, 0) + 1
        self._speller = QueryCorrector(surface)
        self._prefixes: dict[str, list[str]] = {}
        self._by_initial: dict[str, list[str]] = {}
        for t in self._df:
            self._by_initial.setdefault(t[:1], []).append(t)
            if len(t) >= 4:
                self._prefixes.setdefault(t[:4], []).append(t)

    @staticmethod
    def _english_near(word: str) -> list[str]:
        return [w for w in _english_by_initial().get(word[:1], ()) if abs(len(w) - len(word)) <= 1]

    def spell(self, text: str) -> str:
        """The query with misspelt words replaced by the knowledge base's nearest word (`QueryCorrector`)."""
        return self._speller.correct(text)

    def unknown_share(self, text: str) -> float:
        """Share of the question's specific English words that no source mentions at all.

        'Does my horoscope affect sciatica?' -> 1.0 ('horoscope' appears nowhere): the knowledge base
        cannot answer it, however close 'sciatica' pulls the embedding. Typos are ignored.
        """
        return self.missing(text)[0]

    def missing(self, text: str) -> tuple[float, list[str]]:
        """`unknown_share`, and the words behind it."""
        english = known_words()
        specific: list[str] = []
        absent: list[str] = []
        for word in _WORD.findall(text.lower()):
            if word in STOPWORDS or word in ASKING or len(word) < 3 or word.isdigit():
                continue
            t = stem(word)
            if self._df.get(t, 0) > self._generic_df:
                continue
            known = t in self._df or (len(t) >= 6 and any(k.startswith(t[:5]) for k in self._prefixes.get(t[:4], ())))
            if not known and word not in english:
                limit = 1 if len(t) < 7 else 2
                if any(
                    edit_distance(t, k, limit) <= limit
                    for k in self._by_initial.get(t[:1], ())
                    if abs(len(k) - len(t)) <= limit
                ):
                    continue  # a typo of a word we do know: not evidence of a missing topic
                if any(edit_distance(word, k, 1) <= 1 for k in self._english_near(word)):
                    continue  # a typo of an everyday word ("husbnd"): says nothing about the topic
            specific.append(t)
            if not known:
                absent.append(word)
        if not specific:
            return 0.0, []
        return len(absent) / len(specific), absent

    def set_approved(self, items: Sequence[Approved]) -> None:
        self.approved = list(items)

    def match_approved(self, vector: np.ndarray, threshold: float) -> tuple[Approved, float] | None:
        """The clinician-approved answer to a question this close to the patient's, if any."""
        best: tuple[Approved, float] | None = None
        for item in self.approved:
            sim = float(item.vector @ vector)
            if sim >= threshold and (best is None or sim > best[1]):
                best = (item, sim)
        return best

    def dense(self, vector: np.ndarray, k: int = 40) -> list[tuple[str, float]]:
        """Cosine neighbours. A small store is searched exactly in memory (the vectors Chroma holds,
        loaded once); a large one through Chroma's own index."""
        if len(self._ids) > IN_MEMORY_LIMIT:
            return self.index.dense(vector, k)
        sims = self.index.vectors @ vector
        top = np.argpartition(-sims, min(k, len(sims) - 1))[:k]
        top = top[np.argsort(-sims[top])]
        return [(self._ids[i], float(sims[i])) for i in top]

    def sparse(self, text: str, k: int = 40) -> list[tuple[str, float]]:
        q = tokens(text)
        if not q:
            return []
        scores = self._bm25.get_scores(q)
        top = np.argsort(-scores)[:k]
        return [(self._sparse_ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def search(
        self,
        vector: np.ndarray,
        text: str,
        k: int = 5,
        kinds: tuple[str, ...] = ("article", "document"),
        mode: str = "hybrid",
    ) -> list[Hit]:
        """Top `k` sources of the given kinds, one entry per source, best first."""
        dense, sparse = self._ranked(vector, text, mode)
        fused: dict[str, float] = {}
        for ranked in (dense, sparse):
            rank = 0
            for cid, _ in ranked:
                if self.index.by_id[cid].meta.get("kind") not in kinds:
                    continue
                rank += 1
                fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + rank)
        cos = dict(dense)
        rows = self.index.row

        def cosine(cid: str) -> float:
            # a chunk found by BM25 alone still has a cosine: 0 would read as "nothing close"
            found = cos.get(cid)
            return (
                found if found is not None else float(self.index.vectors[rows[cid]] @ vector) if mode != "bm25" else 0.0
            )

        per_source: dict[str, Hit] = {}
        for cid, score in sorted(fused.items(), key=lambda kv: -kv[1]):
            chunk = self.index.by_id[cid]
            sid = str(chunk.meta.get("source_id"))
            hit = per_source.get(sid)
            if hit is None:
                per_source[sid] = Hit(
                    source_id=sid,
                    title=str(chunk.meta.get("title", sid)),
                    kind=str(chunk.meta.get("kind", "article")),
                    status=str(chunk.meta.get("status", "draft")),
                    score=score,
                    cosine=cosine(cid),
                    chunk_ids=[cid],
                )
            else:
                if len(hit.chunk_ids) == 1:
                    hit.score += 0.25 * score  # a second matching chunk of the same source adds a little
                hit.chunk_ids.append(cid)
                hit.cosine = max(hit.cosine, cosine(cid))
        hits = sorted(per_source.values(), key=lambda h: -h.score)
        return hits[:k]

    def _ranked(
        self, vector: np.ndarray, text: str, mode: str
    ) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
        """Dense and BM25 rankings over every chunk; the last query's are reused (a turn searches
        articles, then exercise cards, with the same query)."""
        key = (vector.tobytes(), text, mode)
        last = self._last  # one read: web requests run in threads
        if last is None or last[0] != key:
            dense = self.dense(vector) if mode in ("hybrid", "dense") else []
            sparse = self.sparse(text) if mode in ("hybrid", "bm25") else []
            last = (key, dense, sparse)
            self._last = last
        return last[1], last[2]

    def search_blend(
        self,
        queries: Sequence[tuple[np.ndarray, str, float]],
        k: int = 5,
        kinds: tuple[str, ...] = ("article", "document"),
        mode: str = "hybrid",
    ) -> list[Hit]:
        """Several weighted queries (e.g. a follow-up alone and with its context), fused per source."""
        merged: dict[str, Hit] = {}
        for vector, text, weight in queries:
            for hit in self.search(vector, text, k=20, kinds=kinds, mode=mode):
                seen = merged.get(hit.source_id)
                if seen is None:
                    hit.score *= weight
                    merged[hit.source_id] = hit
                else:
                    seen.score += weight * hit.score
                    seen.cosine = max(seen.cosine, hit.cosine)
                    seen.chunk_ids += [c for c in hit.chunk_ids if c not in seen.chunk_ids]
        return sorted(merged.values(), key=lambda h: -h.score)[:k]


_FOLLOWUP = re.compile(
    r"^(?:and|but|also|what about|how about|so|ok|okay|then|or)\b|"
    r"\b(?:it|its|that|this|those|these|them|they|there|one|ones|same|"
    r"instead|as well|too|either|else|more|longer|again|how long|how often|how many|how much|which|"
    r"how far|how soon|how fast|how hard|"
    r"afterwards|after that|before that|beforehand|to start with|at first|to begin with|the recovery|first)\b",
)
_CONTENT = re.compile(r"[a-z]{4,}")


def needs_context(message: str) -> bool:
    """Short or referring messages ('how long do I hold it?', 'and when driving?') need the history."""
    text = message.lower().strip()
    words = _CONTENT.findall(text)
    content = [
        w for w in words if w not in STOPWORDS and w not in {"what", "about", "does", "long", "often", "hold", "with"}
    ]
    return bool(_FOLLOWUP.search(text)) and len(content) <= 4 or len(text.split()) <= 3


def resolve_followup(message: str, history: Sequence[Turn]) -> str:
    """Deterministic rewrite: a follow-up is searched with the previous exchange's topic.

    The new message is given twice so that what is asked now ('and when driving?') outweighs
    what was asked before ('how should I sit at work?').
    """
    if not history or not needs_context(message):
        return message
    last_user = next((t.content for t in reversed(history) if t.role == "user"), "")
    last_bot = next((t.content for t in reversed(history) if t.role == "assistant"), "")
    topic = " ".join(last_bot.split()[:12])
    return f"{message} {message} {last_user[:300]} {topic}".strip()
