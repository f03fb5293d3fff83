"""The vector store seam: Chroma embedded (default) or a Chroma server, with an atomic 'active' pointer.

A build writes into a fresh collection and only then moves the pointer, so a crash or a rebuild
mid-way never leaves a half-written collection answering questions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assistant.errors import StoreError
from assistant.settings import Settings

POINTER = "physio-pointer"
REBUILD_HINT = "Run `physio-assistant ingest --rebuild` to rebuild it."


def open_client(settings: Settings) -> Any:
    """A Chroma client for the configured backend (telemetry off)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    try:
        if settings.chroma_host:
            return chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings)
        settings.chroma_path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(settings.chroma_path), settings=chroma_settings)
    except Exception as exc:  # noqa: BLE001 - chroma raises many kinds; one message for the user
        where = f"{settings.chroma_host}:{settings.chroma_port}" if settings.chroma_host else str(settings.chroma_path)
        raise StoreError(f"Cannot open the vector store at {where}: {exc}. {REBUILD_HINT}") from exc


def active_name(client: Any, base: str) -> str | None:
    """The collection currently answering, or None before the first complete ingest."""
    try:
        pointer = client.get_or_create_collection(POINTER)
        meta = pointer.metadata or {}
    except Exception as exc:  # noqa: BLE001
        raise StoreError(f"The vector store could not be read ({exc}). {REBUILD_HINT}") from exc
    name = meta.get(f"active:{base}")
    return str(name) if name else None


def set_active(client: Any, base: str, name: str) -> None:
    pointer = client.get_or_create_collection(POINTER)
    meta = dict(pointer.metadata or {})
    meta[f"active:{base}"] = name
    pointer.modify(metadata=meta)


@dataclass
class StoredChunk:
    id: str
    text: str
    meta: dict[str, Any]


@dataclass
class KnowledgeIndex:
    """The active collection, loaded for querying; documents are kept in memory for BM25 and composing."""

    collection: Any
    chunks: list[StoredChunk]
    model: str
    dimension: int
    vectors: np.ndarray
    by_id: dict[str, StoredChunk] = field(default_factory=dict)
    row: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_id = {c.id: c for c in self.chunks}
        self.row = {c.id: i for i, c in enumerate(self.chunks)}

    def vector(self, chunk_id: str) -> np.ndarray:
        return self.vectors[self.row[chunk_id]]

    def dense(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """Chunk ids with cosine similarity, best first."""
        k = min(k, len(self.chunks))
        if k == 0:
            return []
        res = self.collection.query(query_embeddings=[vector.tolist()], n_results=k, include=["distances"])
        return [(cid, 1.0 - float(d)) for cid, d in zip(res["ids"][0], res["distances"][0], strict=True)]


def open_index(settings: Settings, model: str, dimension: int, client: Any | None = None) -> KnowledgeIndex:
    """Open the active collection, refusing an empty store or one built with another model."""
    client = client or open_client(settings)
    name = active_name(client, settings.collection)
    if name is None:
        raise StoreError("The knowledge store is empty. Run `physio-assistant ingest` to build it.")
    try:
        collection = client.get_collection(name)
        got = collection.get(include=["documents", "metadatas", "embeddings"])
    except Exception as exc:  # noqa: BLE001
        raise StoreError(f"The knowledge store is damaged ({exc}). {REBUILD_HINT}") from exc
    meta = collection.metadata or {}
    if meta.get("embedding_model") != model or int(meta.get("dimension", -1)) != dimension:
        raise StoreError(
            f"The knowledge store was built with {meta.get('embedding_model')} ({meta.get('dimension')} dims) "
            f"but the configured model is {model} ({dimension} dims). {REBUILD_HINT}"
        )
    rows = sorted(
        zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=True),
        key=lambda r: (str((r[2] or {}).get("source_id", "")), int((r[2] or {}).get("order", 0))),
    )
    if not rows:
        raise StoreError("The knowledge store has no content. Run `physio-assistant ingest` to fill it.")
    chunks = [StoredChunk(cid, doc or "", dict(m or {})) for cid, doc, m, _ in rows]
    vectors = np.asarray([r[3] for r in rows], dtype=np.float32)
    return KnowledgeIndex(collection=collection, chunks=chunks, model=model, dimension=dimension, vectors=vectors)
