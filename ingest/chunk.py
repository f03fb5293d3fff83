"""Header-aware chunking with content-hash ids and full provenance metadata."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

from assistant.content import Article, ExerciseCard, slug

_HEADERS = MarkdownHeaderTextSplitter([("#", "h1"), ("##", "h2"), ("###", "h3")], strip_headers=True)
_SPLITTER = RecursiveCharacterTextSplitter(chunk_size=900, chunk_overlap=80, separators=["\n\n", "\n", ". ", " "])


@dataclass
class Chunk:
    text: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """Content hash: the same text and metadata always give the same id."""
        key = self.text + "\x1f" + "|".join(f"{k}={self.meta[k]}" for k in sorted(self.meta))
        return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]

    @property
    def embed_text(self) -> str:
        """What is embedded: title and section give a chunk its context; a patient phrasing stands
        alone (question-to-question similarity is what it is for)."""
        if self.meta.get("role") == "phrasing":
            return self.text
        section = self.meta.get("section") or ""
        head = self.meta.get("title", "")
        return f"{head}. {section}. {self.text}" if section else f"{head}. {self.text}"


def markdown_chunks(body: str, base: dict[str, Any]) -> list[Chunk]:
    """A document's own Markdown: split by headings, long sections into ~900-character pieces.

    Each piece is an answer unit of its own (`section_id`): an answer quotes it whole."""
    chunks: list[Chunk] = []
    for doc in _HEADERS.split_text(body):
        section = doc.metadata.get("h3") or doc.metadata.get("h2") or doc.metadata.get("h1") or ""
        for piece in _SPLITTER.split_text(doc.page_content):
            if piece.strip():
                order = len(chunks) + 1
                section_id = f"{base['source_id']}#{slug(section) or 'part'}-{order}"
                chunks.append(
                    Chunk(
                        piece.strip(),
                        {**base, "section": section, "section_id": section_id, "role": "text", "order": order},
                    )
                )
    return chunks


def article_chunks(article: Article) -> list[Chunk]:
    """Title and summary, each patient question, then each `##` section whole with its phrasings.

    A section is never split: it is what a physio approves and what an answer quotes. Its patient
    phrasings get vectors of their own and point at it (`section_id`, role "phrasing")."""
    base = {
        "source_id": article.id,
        "title": article.title,
        "kind": "article",
        "status": article.review.status,
        "source_file": article.path.rsplit("/", 1)[-1],
    }
    # Each way a patient asks gets its own vector: question-to-question similarity is the
    # strongest signal a small bi-encoder has.
    lead = [Chunk(f"{article.title}. {article.summary}", {**base, "section": "questions", "order": 0})]
    lead += [Chunk(q, {**base, "section": "questions", "order": 0}) for q in article.questions]
    body: list[Chunk] = []
    for section in article.sections():
        meta = {**base, "section": section.heading, "section_id": section.id, "order": section.order + 1}
        body.append(Chunk(section.text, {**meta, "role": "text"}))
        body += [Chunk(q, {**meta, "role": "phrasing"}) for q in section.questions]
    return [*lead, *body]


def card_text(card: ExerciseCard) -> str:
    steps = " ".join(card.steps)
    kind = card.category.replace("_", " ")
    return f"{card.name} ({kind} exercise for {', '.join(card.targets)}). {card.summary} {steps} {card.dosage.text}"


def card_chunks(card: ExerciseCard) -> list[Chunk]:
    meta = {
        "source_id": card.id,
        "title": card.name,
        "kind": "exercise",
        "category": card.category,
        "status": card.review.status,
        "source_file": card.path.rsplit("/", 1)[-1],
        "section": "",
        "order": 0,
    }
    return [Chunk(card_text(card), meta)]
