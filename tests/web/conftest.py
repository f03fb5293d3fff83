"""One real server for the whole web suite: `physio-assistant serve` in a subprocess on a free loopback port.

The store is built by the server itself on first use (an empty temp data folder), exactly as a clinic's
first start would do it. The review login uses a password hashed here; tests sign in with it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.web.auth import hash_password
from evals.bench.common import free_port, stop, wait_healthy
from tests.web.support import REVIEW_PASSWORD, REVIEW_USER, ROOT, SCREENSHOTS, Server

START_TIMEOUT = 240


def _command() -> list[str]:
    exe = Path(sys.executable).with_name("physio-assistant")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("physio-assistant")
    return [found] if found else [sys.executable, "-c", "from assistant.cli import main; main()"]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("web")
    data_dir = home / "data"
    log = home / "server.log"
    port = free_port()
    password_hash = hash_password(REVIEW_PASSWORD)
    env = {
        **os.environ,
        "PHYSIO_DATA_DIR": str(data_dir),
        "PHYSIO_KNOWLEDGE_DIR": str(ROOT / "knowledge"),
        "PHYSIO_REVIEW_USER": REVIEW_USER,
        "PHYSIO_REVIEW_PASSWORD_HASH": password_hash,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    # the defaults a clinic gets: no trusted proxy, a session key made in the data folder, SQLite
    for name in ("PHYSIO_DATABASE_URL", "PHYSIO_TRUSTED_PROXIES", "PHYSIO_SECRET_KEY", "PHYSIO_CHAT_RATE_PER_MINUTE"):
        env.pop(name, None)
    with log.open("w") as out:
        # cwd is the temp folder, so a developer's .env in the repo cannot change the test server
        proc = subprocess.Popen(
            [*_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=home,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_healthy(url, START_TIMEOUT, proc=proc)
        except RuntimeError as exc:
            pytest.fail(f"{exc}:\n{log.read_text()[-4000:]}")
        yield Server(url=url, data_dir=data_dir, log=log, pid=proc.pid, password_hash=password_hash)
    finally:
        stop(proc, grace=15)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
