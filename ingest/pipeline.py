"""Idempotent, crash-safe ingestion into the vector store.

Unchanged content is skipped (content-hash ids); a change builds a new collection, reusing the
stored vectors of unchanged chunks, then moves the active pointer and drops the old collection.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from assistant.content import load_knowledge
from assistant.embeddings import Embedder
from assistant.errors import StoreError
from assistant.settings import Settings
from assistant.store import active_name, open_client, set_active
from ingest.chunk import Chunk, article_chunks, card_chunks
from ingest.documents import DocumentProblem, document_chunks, load_document

BATCH = 64
Progress = Callable[[int, int], None]


@dataclass
class IngestSummary:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    embedded: int = 0
    seconds: float = 0.0
    collection: str = ""
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"added {self.added}, updated {self.updated}, removed {self.removed}, "
            f"unchanged {self.unchanged} chunks in {self.seconds:.1f} s"
        )


def registry_path(settings: Settings) -> Path:
    return settings.data_dir / "documents.json"


def registered_documents(settings: Settings) -> list[Path]:
    path = registry_path(settings)
    if not path.is_file():
        return []
    try:
        return [Path(p) for p in json.loads(path.read_text(encoding="utf-8"))]
    except (json.JSONDecodeError, TypeError):
        return []


def _save_registry(settings: Settings, paths: list[Path]) -> None:
    path = registry_path(settings)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(sorted({str(p) for p in paths}), indent=1), encoding="utf-8")
    tmp.replace(path)


def collect_chunks(settings: Settings, extra: list[Path]) -> tuple[list[Chunk], list[str], list[Path]]:
    """All chunks the store should hold: the validated knowledge base plus the clinic's documents."""
    kb = load_knowledge(settings.knowledge_path)
    chunks: list[Chunk] = []
    for article in kb.articles.values():
        chunks.extend(article_chunks(article))
    for card in kb.cards.values():
        chunks.extend(card_chunks(card))
    problems: list[str] = []
    kept: list[Path] = []
    for path in [*registered_documents(settings), *extra]:
        path = path.resolve()
        if path in kept:
            continue
        try:
            chunks.extend(document_chunks(load_document(path)))
            kept.append(path)
        except DocumentProblem as exc:
            problems.append(str(exc))
    unique = {c.id: c for c in chunks}
    return list(unique.values()), problems, kept


def _new_name(base: str) -> str:
    return f"{base}-{time.strftime('%Y%m%d%H%M%S')}-{time.time_ns() % 1_000_000:06d}"


def ingest(
    settings: Settings,
    embedder: Embedder,
    paths: list[Path] | None = None,
    *,
    rebuild: bool = False,
    progress: Progress | None = None,
    client: Any | None = None,
) -> IngestSummary:
    """Bring the store in line with the knowledge base; see the module docstring for the guarantees."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(settings.data_dir / "ingest.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout as exc:
        raise StoreError("Another ingest is running on this data folder; wait for it to finish and try again.") from exc
    try:
        return _ingest_locked(settings, embedder, paths or [], rebuild, progress, client)
    finally:
        lock.release()


def _ingest_locked(
    settings: Settings, embedder: Embedder, extra: list[Path], rebuild: bool, progress: Progress | None, client: Any
) -> IngestSummary:
    start = time.perf_counter()
    chunks, problems, kept = collect_chunks(settings, extra)
    client = client or open_client(settings)
    base = settings.collection
    current = active_name(client, base)
    old = client.get_collection(current) if current else None
    old_ids: set[str] = set()
    old_sources: dict[str, str] = {}
    if old is not None:
        meta = old.metadata or {}
        same_model = (
            meta.get("embedding_model") == embedder.model_name and int(meta.get("dimension", -1)) == embedder.dimension
        )
        if not same_model and not rebuild:
            raise StoreError(
                f"The store was built with {meta.get('embedding_model')} ({meta.get('dimension')} dims) but the "
                f"configured model is {embedder.model_name} ({embedder.dimension} dims). "
                "Run `physio-assistant ingest --rebuild` to rebuild it with the configured model."
            )
        got = old.get(include=["metadatas"])
        old_ids = set(got["ids"])
        old_sources = {
            cid: str((m or {}).get("source_id")) for cid, m in zip(got["ids"], got["metadatas"], strict=True)
        }
    new_ids = {c.id for c in chunks}
    summary = IngestSummary(problems=problems, collection=current or "")
    if old is not None and not rebuild and new_ids == old_ids:
        summary.unchanged = len(new_ids)
        _save_registry(settings, kept)
        summary.seconds = time.perf_counter() - start
        return summary

    reuse = set() if rebuild else (new_ids & old_ids)
    vectors: dict[str, list[float]] = {}
    if reuse and old is not None:  # (reuse is empty without an old collection)
        got = old.get(ids=sorted(reuse), include=["embeddings"])
        vectors = {cid: list(vec) for cid, vec in zip(got["ids"], got["embeddings"], strict=True)}
    # similar lengths batch together: far less padding, so embedding runs near raw encode speed
    to_embed = sorted((c for c in chunks if c.id not in vectors), key=lambda c: len(c.embed_text))
    name = _new_name(base)
    target = client.create_collection(
        name,
        metadata={
            "hnsw:space": "cosine",
            "embedding_model": embedder.model_name,
            "dimension": embedder.dimension,
            "base": base,
        },
    )
    done = 0
    total = len(chunks)
    for i in range(0, len(to_embed), BATCH):
        batch = to_embed[i : i + BATCH]
        embs = embedder.encode([c.embed_text for c in batch])
        for c, v in zip(batch, embs, strict=True):
            vectors[c.id] = v.tolist()
        summary.embedded += len(batch)
        if progress:
            progress(min(summary.embedded, total), total)
    for i in range(0, total, BATCH * 4):
        batch = chunks[i : i + BATCH * 4]
        target.add(
            ids=[c.id for c in batch],
            documents=[c.text for c in batch],
            metadatas=[c.meta for c in batch],
            embeddings=[vectors[c.id] for c in batch],
        )
        done += len(batch)
    set_active(client, base, name)  # the switch: only a complete collection ever answers
    for col in client.list_collections():
        col_name = col if isinstance(col, str) else col.name
        if col_name.startswith(base + "-") and col_name != name:
            with contextlib.suppress(Exception):  # a leftover is harmless; the next ingest retries
                client.delete_collection(col_name)
    _save_registry(settings, kept)
    old_by_source: dict[str, set[str]] = {}
    for cid, src in old_sources.items():
        old_by_source.setdefault(src, set()).add(cid)
    new_by_source: dict[str, set[str]] = {}
    for c in chunks:
        new_by_source.setdefault(str(c.meta["source_id"]), set()).add(c.id)
    for src, ids in new_by_source.items():
        before = old_by_source.get(src)
        if before is None:
            summary.added += len(ids)
        elif rebuild or before != ids:
            summary.updated += len(ids)
        else:
            summary.unchanged += len(ids)
    summary.removed = sum(len(ids) for src, ids in old_by_source.items() if src not in new_by_source)
    summary.collection = name
    summary.seconds = time.perf_counter() - start
    return summary
