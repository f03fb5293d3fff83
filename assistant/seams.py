"""The collaborators the conversation layer is given, as protocols: what it needs of each, no more.

The records database (`assistant.records.Records`, or a proxy that survives it being down), an
optional chat model (a LangChain chat model, or a stand-in in tests), and the encoder
(`assistant.embeddings.Embedder`). Typing the seams keeps a stand-in honest about what it replaces.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np


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
