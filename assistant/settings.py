"""Settings from `PHYSIO_*` environment variables, over an optional `.env` file."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
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

    # the key that signs review sessions; unset: a random key kept in the data folder (mode 0600).
    # Set the same value on every replica behind a load balancer.
    secret_key: SecretStr | None = None

    # proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or networks, comma
    # separated, e.g. "127.0.0.1" for nginx on the same machine); unset: no proxy is trusted
    trusted_proxies: str = ""

    # which sites may show the patient chat in an iframe (CSP frame-ancestors); /review never can be
    frame_ancestors: str = "'self'"

    retention_days: int = 365
    max_message_chars: int = Field(default=4000, ge=100)
    chat_rate_per_minute: int = 30
    weak_retrieval_threshold: float = 0.30
    approved_answer_threshold: float = 0.85

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: str) -> str:
        for item in value.replace(",", " ").split():
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"{item!r} is not an IP address or network; list the proxies' own addresses, e.g. 127.0.0.1 or "
                    "10.0.0.0/24"
                ) from None
        return value

    @field_validator("secret_key")
    @classmethod
    def _secret_is_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError(
                "use at least 32 random characters, e.g. from `python -c 'import secrets; "
                "print(secrets.token_hex(32))'`"
            )
        return value

    @property
    def knowledge_path(self) -> Path:
        """The knowledge folder: the setting, else the copy installed with the package."""
        path = self.knowledge_dir or Path(str(resources.files("physio_knowledge")))
        if not (path / "clinic.yaml").is_file():
            raise ConfigError(
                f"No knowledge base at {path} (clinic.yaml missing). Set PHYSIO_KNOWLEDGE_DIR to your knowledge folder."
            )
        return path

    @property
    def trusted_proxy_list(self) -> list[str]:
        """PHYSIO_TRUSTED_PROXIES as a list ("10.0.0.2, 10.1.0.0/16" -> ["10.0.0.2", "10.1.0.0/16"])."""
        return [p for p in self.trusted_proxies.replace(",", " ").split() if p]

    @property
    def secret_key_path(self) -> Path:
        return self.data_dir / "secret_key"

    @property
    def outbox_path(self) -> Path:
        """Turns waiting for the records database, kept on disk so a restart loses none."""
        return self.data_dir / "outbox.jsonl"

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
