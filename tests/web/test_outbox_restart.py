"""The real server, its records database down, killed with SIGKILL: no turn is lost.

The first server logs to a PostgreSQL address where nothing listens; the patient still gets every
answer and the turns wait in the data folder's spool. It is killed with SIGKILL. The next server
starts on the same data folder with a database that works, and writes them before it serves.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from gradio_client import Client

from assistant.records import Records
from evals.bench.common import free_port, wait_healthy
from tests.web.conftest import START_TIMEOUT, _command
from tests.web.support import ROOT

pytestmark = pytest.mark.slow

DOWN = "postgresql+psycopg://physio@127.0.0.1:1/records"
MESSAGES = [
    "is walking ok with sciatica?",
    "my name is Sarah Jones and I can't feel my bum when I wipe",
    "what about swimming?",
]


def start(home: Path, data_dir: Path, database_url: str | None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "PHYSIO_DATA_DIR": str(data_dir),
        "PHYSIO_KNOWLEDGE_DIR": str(ROOT / "knowledge"),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    for name in ("PHYSIO_DATABASE_URL", "PHYSIO_REVIEW_PASSWORD_HASH", "PHYSIO_TRUSTED_PROXIES", "PHYSIO_SECRET_KEY"):
        env.pop(name, None)
    if database_url:
        env["PHYSIO_DATABASE_URL"] = database_url
    log = (home / f"server-{port}.log").open("w")
    proc = subprocess.Popen(
        [*_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=home,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, START_TIMEOUT, proc=proc)
    except RuntimeError as exc:
        proc.kill()
        pytest.fail(f"the server did not start: {exc}\n{(home / f'server-{port}.log').read_text()[-3000:]}")
    return proc, url


def test_turns_logged_while_the_database_is_down_survive_kill_9(tmp_path: Path, built_settings) -> None:  # type: ignore[no-untyped-def]
    home, data_dir = tmp_path, tmp_path / "data"
    # the session's knowledge store, copied: both servers only load it (building it is tested elsewhere)
    for part in ("chroma", "cache"):
        if (built_settings.data_dir / part).exists():
            shutil.copytree(built_settings.data_dir / part, data_dir / part)
    first, url = start(home, data_dir, DOWN)
    assert "building it now" not in "".join(p.read_text() for p in home.glob("server-*.log"))
    try:
        client = Client(url + "/", verbose=False, download_files=False)
        answers = [client.predict(m, api_name="/chat") for m in MESSAGES]
        assert all("not a diagnosis" in a for a in answers), "the patient gets every answer with the database down"
        spooled = (data_dir / "outbox.jsonl").read_text(encoding="utf-8")
        assert spooled.count("\n") == len(MESSAGES) and "Sarah" not in spooled
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    assert first.returncode == -signal.SIGKILL

    second, url = start(home, data_dir, None)  # the database is back (SQLite in the same data folder)
    try:
        turns = Records(f"sqlite:///{(data_dir / 'records.sqlite3').resolve()}").list_turns(limit=10)
        assert sorted(t["user_message"] for t in turns) == sorted(
            [
                "is walking ok with sciatica?",
                "my name is [name] and I can't feel my bum when I wipe",
                "what about swimming?",
            ]
        )
        assert next(t for t in turns if "bum" in t["user_message"])["level"] == "emergency"
        assert (data_dir / "outbox.jsonl").read_bytes() == b""
    finally:
        second.terminate()
        second.wait(timeout=30)
