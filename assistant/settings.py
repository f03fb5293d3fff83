"""Settings from `PHYSIO_*` environment variables, over an optional `.env` file."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from assistant.errors import ConfigError

BUNDLED_MODEL = "bundled:all-MiniLM-L6-v2"
BUNDLED_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


class Settings(BaseSettings):
    """Everything a clinic may change without touching code."""

    model_config = SettingsConfigDict(env_prefix="PHYSIO_", env_file=".env", extra="ignore")

    data_dir: Path = Path("data")
    knowledge_dir: Path | None = None
    embedding_model: str = BUNDLED_MODEL
    embedding_sha256: str = BUNDLED_SHA256
    # auto: the bundled model through ONNX Runtime (no torch at serve time), any other through
    # sentence-transformers; sentence-transformers forces the reference path for the bundled one too
    embedding_backend: Literal["auto", "onnx", "sentence-transformers"] = "auto"
    model_cache_dir: Path | None = None  # where the ONNX export lives; default <data_dir>/models
    collection: str = "physio-knowledge"
    chroma_host: str | None = None
    chroma_port: int = 8000
    database_url: str | None = None

    # optional LLM (any OpenAI-compatible server); never required
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None

    # clinician review login: the password is stored only as a scrypt hash
    review_user: str = "physio"
    review_password_hash: str | None = None

    # which sites may show the patient chat in an iframe (CSP frame-ancestors); /review never can be
    frame_ancestors: str = "'self'"

    retention_days: int = 365
    max_message_chars: int = Field(default=4000, ge=100)
    chat_rate_per_minute: int = 30
    weak_retrieval_threshold: float = 0.30
    approved_answer_threshold: float = 0.85

    @property
    def knowledge_path(self) -> Path:
        """The knowledge folder: the setting, else the copy installed with the package."""
        path = self.knowledge_dir or Path(str(resources.files("physio_knowledge")))
        if not (path / "clinic.yaml").is_file():
            raise ConfigError(
                f"No knowledge base at {path} (clinic.yaml missing). "
                "Set PHYSIO_KNOWLEDGE_DIR to your knowledge folder."
            )
        return path

    @property
    def models_path(self) -> Path:
        return self.model_cache_dir or self.data_dir / "models"

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def records_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'records.sqlite3').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
