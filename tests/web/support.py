"""Constants and helpers shared by the web tests (the fixtures are in conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
REVIEW_USER = "physio"
REVIEW_PASSWORD = "test-only-Password-42"


@dataclass(frozen=True)
class Server:
    url: str  # no trailing slash
    data_dir: Path
    log: Path
    pid: int = 0

    def records(self):  # type: ignore[no-untyped-def]
        from assistant.records import Records

        return Records(f"sqlite:///{(self.data_dir / 'records.sqlite3').resolve()}")


def login(client: httpx.Client, base: str, user: str = REVIEW_USER, password: str = REVIEW_PASSWORD, **headers: str) -> httpx.Response:
    """POST the review login form the way a browser does."""
    return client.post(
        f"{base}/review/login", data={"username": user, "password": password}, headers=headers, follow_redirects=False
    )
