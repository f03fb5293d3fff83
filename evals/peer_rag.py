"""A plain LangChain RAG over the same articles and the same encoder: the peer row of the eval (issue 11).

What an afternoon's work gives: each article's Markdown body (front matter dropped) split by
langchain-text-splitters' `RecursiveCharacterTextSplitter` into 500-character chunks (overlap 50),
embedded by the project's own bundled encoder through an `Embeddings` adapter into
langchain-core's `InMemoryVectorStore`, and the top 3 chunks by dense similarity returned for the
question alone (no history, no refusal, no spelling correction, no BM25). Its "answer" is those
chunks; it cites their articles, the first chunk's article first.

    >>> peer = PeerRAG.build(settings.knowledge_path / "articles", assistant.embedder)   # doctest: +SKIP
    >>> peer.answer("is walking ok with sciatica?").primary                             # doctest: +SKIP
    'walking-and-sciatica'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_text_splitters import RecursiveCharacterTextSplitter

CHUNK_SIZE = 500
CHUNK_OVERLAP = 50
TOP_K = 3


class EncoderEmbeddings(Embeddings):
    """LangChain's `Embeddings` over the project's embedder (`assistant.embeddings.Embedder`)."""

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.encode(list(texts)).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.encode([text])[0].tolist()  # type: ignore[no-any-return]


@dataclass(frozen=True)
class PeerAnswer:
    """The peer's reply to one question: the retrieved chunks, best first."""

    chunks: tuple[Document, ...]

    @property
    def cited(self) -> list[str]:
        """The articles of the chunks, each once, in the order of their first chunk."""
        return list(dict.fromkeys(str(d.metadata["id"]) for d in self.chunks))

    @property
    def primary(self) -> str | None:
        return self.cited[0] if self.cited else None

    @property
    def text(self) -> str:
        return "\n\n".join(d.page_content for d in self.chunks)


def article_documents(folder: Path) -> list[Document]:
    """One Document per article: the Markdown body after the front matter; id = the file name."""
    docs = []
    for path in sorted(folder.glob("*.md")):
        _, front, body = path.read_text(encoding="utf-8").split("---", 2)
        meta = yaml.safe_load(front) or {}
        docs.append(
            Document(page_content=body.strip(), metadata={"id": path.stem, "title": str(meta.get("title", path.stem))})
        )
    return docs


@dataclass
class PeerRAG:
    store: InMemoryVectorStore
    chunks: int
    k: int = TOP_K

    @classmethod
    def build(
        cls, articles: Path, embedder: Any, *, chunk_size: int = CHUNK_SIZE, chunk_overlap: int = CHUNK_OVERLAP
    ) -> PeerRAG:
        """Split every article under `articles` and embed the chunks with `embedder`."""
        splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)
        chunks = splitter.split_documents(article_documents(articles))
        store = InMemoryVectorStore(EncoderEmbeddings(embedder))
        store.add_documents(chunks)
        return cls(store, len(chunks))

    @classmethod
    def from_settings(cls, settings: Any) -> PeerRAG:
        """The peer over the configured knowledge folder and embedding model (the same settings as the app)."""
        from assistant.embeddings import load_embedder

        return cls.build(settings.knowledge_path / "articles", load_embedder(settings))

    def answer(self, question: str) -> PeerAnswer:
        return PeerAnswer(tuple(self.store.similarity_search(question, k=self.k)))

    def answers(self, questions: Sequence[str]) -> list[PeerAnswer]:
        return [self.answer(q) for q in questions]
