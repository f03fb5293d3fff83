"""Loaders for the clinic's own documents (Markdown, text, HTML, PDF), ingested as `draft` sources.

Each file either yields text or a clear per-file problem; one bad file never stops the rest.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ingest.chunk import Chunk, markdown_chunks

MAX_BYTES = 5 * 1024 * 1024
SUFFIXES = {".md", ".markdown", ".txt", ".text", ".html", ".htm", ".pdf"}


@dataclass
class LoadedDocument:
    path: Path
    title: str
    text: str


class DocumentProblem(Exception):
    """A per-file problem, worded for the person running ingest."""


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    if b"\x00" in raw[:4096]:
        raise DocumentProblem(f"{path}: looks like a binary file, not text; skipped")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentProblem(
            f"{path}: is not UTF-8 text (byte {exc.start}); re-save it as UTF-8 and ingest again"
        ) from exc


def _html_text(html: str) -> tuple[str, str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "nav", "footer", "header", "noscript"]):
        tag.decompose()
    title = soup.title.get_text(strip=True) if soup.title else ""
    lines = []
    for el in soup.find_all(["h1", "h2", "h3", "p", "li"]):
        text = el.get_text(" ", strip=True)
        if not text:
            continue
        lines.append(("## " if el.name in ("h1", "h2", "h3") else "") + text)
    return title, "\n\n".join(lines)


def _pdf_text(path: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        return "\n\n".join((page.extract_text() or "") for page in reader.pages)
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise DocumentProblem(f"{path}: is not a readable PDF ({exc}); skipped") from exc


def load_document(path: Path) -> LoadedDocument:
    if not path.is_file():
        raise DocumentProblem(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DocumentProblem(f"{path}: unsupported file type {suffix or '(none)'}; use .md, .txt, .html or .pdf")
    size = path.stat().st_size
    if size == 0:
        raise DocumentProblem(f"{path}: is empty; skipped")
    if size > MAX_BYTES:
        raise DocumentProblem(
            f"{path}: is {size // 1024 // 1024} MB, over the 5 MB limit; split it and ingest the parts"
        )
    title = ""
    if suffix == ".pdf":
        text = _pdf_text(path)
    elif suffix in (".html", ".htm"):
        title, text = _html_text(_read_text(path))
    else:
        text = _read_text(path)
    text = re.sub(r"[ \t]+", " ", text).strip()
    if len(text.split()) < 5:
        raise DocumentProblem(f"{path}: has no readable text; skipped")
    if not title:
        first = next((ln.strip("# ").strip() for ln in text.splitlines() if ln.strip()), path.stem)
        title = first[:120]
    return LoadedDocument(path=path, title=title, text=text)


def document_chunks(doc: LoadedDocument) -> list[Chunk]:
    slug = re.sub(r"[^a-z0-9]+", "-", doc.path.stem.lower()).strip("-")[:40] or "document"
    digest = hashlib.sha1(str(doc.path.resolve()).encode()).hexdigest()[:6]
    base = {
        "source_id": f"doc-{slug}-{digest}",
        "title": doc.title,
        "kind": "document",
        "status": "draft",
        "source_file": doc.path.name,
    }
    return markdown_chunks(doc.text, base)
