"""Constants and helpers shared by the web tests (the fixtures are in conftest.py)."""

from __future__ import annotations

import json
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
    password_hash: str = ""

    def records(self):  # type: ignore[no-untyped-def]
        from assistant.records import Records

        return Records(f"sqlite:///{(self.data_dir / 'records.sqlite3').resolve()}")


def login(
    client: httpx.Client, base: str, user: str = REVIEW_USER, password: str = REVIEW_PASSWORD, **headers: str
) -> httpx.Response:
    """POST the review login form the way a browser does."""
    return client.post(
        f"{base}/review/login", data={"username": user, "password": password}, headers=headers, follow_redirects=False
    )


def fn_index(base: str, api_name: str) -> int:
    """The number gradio gave the page's `api_name` event (what a browser or gradio_client sends)."""
    config = httpx.get(f"{base}/config", timeout=30).json()
    return next(d["id"] for d in config["dependencies"] if d.get("api_name") == api_name)


def call_queued(
    base: str,
    fn: int,
    data: list[object],
    session_hash: str,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> object:
    """One call through gradio's queue, as the browser makes it: join, then read the event stream to the end.

    Returns the first output of the completed event (or raises with what the queue said).
    """
    body = {"data": data, "fn_index": fn, "session_hash": session_hash, "trigger_id": None, "event_data": None}
    with httpx.Client(timeout=timeout, headers=headers or {}) as c:
        joined = c.post(f"{base}/gradio_api/queue/join", json=body)
        joined.raise_for_status()
        event_id = joined.json()["event_id"]
        with c.stream("GET", f"{base}/gradio_api/queue/data", params={"session_hash": session_hash}) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                msg = json.loads(line[5:])
                if msg.get("event_id") not in (None, event_id):
                    continue
                if msg.get("msg") == "process_completed":
                    output = msg.get("output") or {}
                    if not msg.get("success", True) or "error" in output and output.get("error"):
                        raise RuntimeError(f"the call failed: {output}")
                    return output["data"][0]
    raise RuntimeError("the event stream ended before the call completed")
