"""The vector store seam: Chroma embedded (default) or a Chroma server, with an atomic 'active' pointer.

A build writes into a fresh collection and only then moves the pointer, so a crash or a rebuild
mid-way never leaves a half-written collection answering questions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
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
    except Exception as exc:  # noqa: BLE001 - Chroma raises many kinds; each becomes one clear message
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
    """The active collection, loaded for querying; documents are kept in memory for BM25 and composing.

    `collection` may be None when the index came from the snapshot: Chroma is then opened by
    `open_collection` only if a query needs its own index (stores past the in-memory limit).
    """

    collection: Any
    chunks: list[StoredChunk]
    model: str
    dimension: int
    vectors: np.ndarray
    by_id: dict[str, StoredChunk] = field(default_factory=dict)
    row: dict[str, int] = field(default_factory=dict)
    open_collection: Callable[[], Any] | None = None

    def __post_init__(self) -> None:
        self.by_id = {c.id: c for c in self.chunks}
        self.row = {c.id: i for i, c in enumerate(self.chunks)}

    def vector(self, chunk_id: str) -> np.ndarray:
        row: np.ndarray = self.vectors[self.row[chunk_id]]
        return row

    def dense(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """Chunk ids with cosine similarity, best first."""
        k = min(k, len(self.chunks))
        if k == 0:
            return []
        if self.collection is None and self.open_collection is not None:
            self.collection = self.open_collection()
        res = self.collection.query(query_embeddings=[vector.tolist()], n_results=k, include=["distances"])
        return [(cid, 1.0 - float(d)) for cid, d in zip(res["ids"][0], res["distances"][0], strict=True)]


def open_index(settings: Settings, model: str, dimension: int, client: Any | None = None) -> KnowledgeIndex:
    """Open the active collection, refusing an empty store or one built with another model.

    The embedded store is read from a snapshot under the data folder's cache when Chroma's files
    have not changed since it was written (no chromadb import, no client start-up); otherwise from
    Chroma, and the snapshot is written again.
    """
    stamp = None if client is not None else store_stamp(settings)
    if stamp is not None:
        snap = _read_snapshot(settings, stamp)
        if snap is not None:
            snap_name, meta, chunks, vectors = snap
            _check_model(meta, model, dimension)

            def reopen() -> Any:
                return open_client(settings).get_collection(snap_name)

            return KnowledgeIndex(
                collection=None,
                chunks=chunks,
                model=model,
                dimension=dimension,
                vectors=vectors,
                open_collection=reopen,
            )
    own_client = client is None
    client = client or open_client(settings)
    if own_client:
        stamp = store_stamp(settings)  # after the client's start-up, which writes to the store itself
    name = active_name(client, settings.collection)
    if name is None:
        raise StoreError("The knowledge store is empty. Run `physio-assistant ingest` to build it.")
    try:
        collection = client.get_collection(name)
        got = collection.get(include=["documents", "metadatas", "embeddings"])
    except Exception as exc:  # noqa: BLE001 - Chroma raises many kinds; each becomes one clear message
        raise StoreError(f"The knowledge store is damaged ({exc}). {REBUILD_HINT}") from exc
    meta = collection.metadata or {}
    _check_model(meta, model, dimension)
    rows = sorted(
        zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=True),
        key=lambda r: (str((r[2] or {}).get("source_id", "")), int((r[2] or {}).get("order", 0))),
    )
    if not rows:
        raise StoreError("The knowledge store has no content. Run `physio-assistant ingest` to fill it.")
    chunks = [StoredChunk(cid, doc or "", dict(m or {})) for cid, doc, m, _ in rows]
    vectors = np.asarray([r[3] for r in rows], dtype=np.float32)
    if stamp is not None:
        _write_snapshot(settings, stamp, name, meta, chunks, vectors)
    return KnowledgeIndex(collection=collection, chunks=chunks, model=model, dimension=dimension, vectors=vectors)


def _check_model(meta: dict[str, Any], model: str, dimension: int) -> None:
    if meta.get("embedding_model") != model or int(meta.get("dimension", -1)) != dimension:
        raise StoreError(
            f"The knowledge store was built with {meta.get('embedding_model')} ({meta.get('dimension')} dims) "
            f"but the configured model is {model} ({dimension} dims). {REBUILD_HINT}"
        )


# ---- the snapshot: the active collection as two plain files ----------------------------------------
SNAPSHOT_FORMAT = 1
_SQLITE = ("chroma.sqlite3", "chroma.sqlite3-wal")


def store_stamp(settings: Settings) -> str | None:
    """What Chroma's files look like now (names, sizes, modification times): every write to the
    embedded store changes it. None for a Chroma server or a store not created yet."""
    if settings.chroma_host:
        return None
    parts = []
    for name in _SQLITE:
        path = settings.chroma_path / name
        try:
            st = path.stat()
            # SQLite's own file change counter (header bytes 24-27): moves on every committed write
            counter = path.open("rb").read(28)[24:] if name == _SQLITE[0] else b""
        except FileNotFoundError:
            if name == _SQLITE[0]:
                return None
            continue
        except OSError:
            return None
        parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}:{counter.hex()}")
    return "|".join(parts)


def _snapshot_paths(settings: Settings) -> tuple[Path, Path]:
    folder = settings.data_dir / "cache"
    return folder / f"index-{settings.collection}.json", folder / f"index-{settings.collection}.npy"


def _read_snapshot(settings: Settings, stamp: str) -> tuple[str, dict[str, Any], list[StoredChunk], np.ndarray] | None:
    head, body = _snapshot_paths(settings)
    try:
        data = json.loads(head.read_text(encoding="utf-8"))
        if data.get("format") != SNAPSHOT_FORMAT or data.get("stamp") != stamp:
            return None
        vectors = np.load(body, allow_pickle=False)
        chunks = [StoredChunk(str(c["id"]), str(c["text"]), dict(c["meta"])) for c in data["chunks"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if (
        vectors.dtype != np.float32
        or vectors.shape != (len(chunks), int(data["meta"].get("dimension", -1)))
        or not chunks
    ):
        return None
    return str(data["collection"]), dict(data["meta"]), chunks, vectors


def _write_snapshot(
    settings: Settings, stamp: str, name: str, meta: dict[str, Any], chunks: list[StoredChunk], vectors: np.ndarray
) -> None:
    """Vectors first, then the header that names the stamp: a reader never pairs a new header with old vectors
    it has not checked (the shape is checked too). A read-only data folder only costs start-up time."""
    head, body = _snapshot_paths(settings)
    try:
        head.parent.mkdir(parents=True, exist_ok=True)
        tmp = body.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, vectors)
        tmp.replace(body)
        data = {
            "format": SNAPSHOT_FORMAT,
            "stamp": stamp,
            "collection": name,
            "meta": {k: v for k, v in meta.items() if isinstance(v, str | int | float | bool)},
            "chunks": [{"id": c.id, "text": c.text, "meta": c.meta} for c in chunks],
        }
        tmp_head = head.with_suffix(f".{os.getpid()}.tmp")
        tmp_head.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        tmp_head.replace(head)
    except (OSError, TypeError, ValueError):
        pass
