"""The collaborators the conversation layer is given, as protocols: what it needs of each, no more.

The records database (`assistant.records.Records`, or a proxy that survives it being down), an
optional chat model (a LangChain chat model, or a stand-in in tests), the encoder
(`assistant.embeddings.Embedder`), and what builds an empty knowledge store (`ingest.pipeline.ingest`,
handed in by the front ends: the assistant package never imports the offline path). Typing the seams
keeps a stand-in honest about what it replaces.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from assistant.embeddings import Embedder
    from assistant.settings import Settings


class RecordsPort(Protocol):
    """What the conversation layer reads from and writes to the records database."""

    def approved_answers(self) -> list[dict[str, Any]]: ...

    def article_statuses(self) -> dict[str, dict[str, Any]]: ...

    def log_turn(
        self,
        conversation_id: str,
        user_message: str,
        reply: dict[str, Any],
        *,
        client_id: str | None = ...,
        at: Any = ...,
    ) -> int: ...


class ChatModel(Protocol):
    """An optional LLM: only `invoke`, and only to choose among candidate sections."""

    def invoke(self, input: Sequence[Any], /) -> Any: ...


class Encoder(Protocol):
    """The sentence encoder every stage shares (one model, one vector space)."""

    model_name: str
    dimension: int

    def encode(self, texts: list[str], batch_size: int = ...) -> np.ndarray: ...

    def encode_one(self, text: str) -> np.ndarray: ...


class BuildSummary(Protocol):
    """What a store build reports: one line for the person starting the app."""

    def line(self) -> str: ...


class StoreBuilder(Protocol):
    """Builds (or brings up to date) the knowledge store; `ingest.pipeline.ingest` is the one in use."""

    def __call__(self, settings: Settings, embedder: Embedder) -> BuildSummary: ...
