"""The test scripts themselves: `make test` leaves no PostgreSQL server running behind it."""

from __future__ import annotations

import glob
import os
import socket
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not glob.glob("/usr/lib/postgresql/*/bin/initdb"), reason="PostgreSQL is installed by `make test`"
    ),
    pytest.mark.skipif(os.geteuid() != 0, reason="the throwaway cluster runs as the postgres user (needs root)"),
]

# what the command sees: the URL and where the cluster lives; then a real query through it
PROBE = (
    'echo "$PHYSIO_TEST_POSTGRES_URL"; echo "$PHYSIO_PG_DIR"; echo "$PHYSIO_PG_PORT"; '
    "python3 -c \"import socket, os; socket.create_connection(('127.0.0.1', int(os.environ['PHYSIO_PG_PORT'])), "
    "5).close(); print('answered')\"; exit $0"
)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


def _postmasters(folder: str) -> list[str]:
    found = []
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            text = Path(cmdline).read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if folder in text and "postgres" in text:
            found.append(text)
    return found


@pytest.mark.parametrize("status", [0, 3])
def test_with_postgres_stops_and_removes_its_server_whatever_the_command_does(status: int) -> None:
    proc = subprocess.run(
        ["bash", "scripts/with-postgres.sh", "bash", "-c", PROBE, str(status)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PHYSIO_PG_PORT": ""},
    )
    assert proc.returncode == status, proc.stderr
    url, folder, port, answered = proc.stdout.split()
    assert url.startswith("postgresql+psycopg://postgres@127.0.0.1:") and answered == "answered"
    assert not _listening(int(port)), "the server still answers after the run"
    assert not Path(folder).exists(), "the cluster's folder is left behind"
    assert not _postmasters(folder), "a postgres process is left running"


def test_make_test_runs_its_postgres_through_with_postgres() -> None:
    """scripts/test.sh starts its own server only through the wrapper that stops it."""
    script = (ROOT / "scripts" / "test.sh").read_text()
    assert "with-postgres.sh" in script and "start-postgres.sh" not in script
