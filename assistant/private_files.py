"""Files only the service's own user may read: the data folder (0700), the records database, the
session key and the outbox spool (0600).

The data folder holds health conversations; on a shared machine a 0644 database in a 0755 folder
is readable by every local account.

>>> import tempfile, pathlib
>>> folder = private_dir(pathlib.Path(tempfile.mkdtemp()) / "data")
>>> oct(folder.stat().st_mode & 0o777)
'0o700'
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from assistant.errors import ConfigError

log = logging.getLogger("physio.files")

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` (and its parents) if needed; make it 0700 when this user owns it."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _tighten(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Make sure `path` exists with mode 0600 (created empty if missing; an existing file is tightened).

    A missing parent folder is created 0700; an existing one is left as it is (it may be shared).
    """
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        os.close(fd)
    except FileExistsError:
        _tighten(path, FILE_MODE)
    return path


def read_or_create_secret(path: Path, nbytes: int = 32) -> bytes:
    """A random key kept in `path` (0600), made once; later calls, and other processes, read the same key.

    The key is written to a temporary file and linked into place, so a reader never sees half a key
    and two processes starting together agree on one.
    """
    private_dir(path.parent)
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_hex(nbytes) + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, path)  # fails if another process got there first: then its key is the key
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    _tighten(path, FILE_MODE)
    text = path.read_text(encoding="ascii").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < nbytes:
        raise ConfigError(f"{path} does not hold a session key; delete it (every review session ends) and restart.")
    return key


def _tighten(path: Path, mode: int) -> None:
    try:
        info = path.stat()
        if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & ~mode:
            os.chmod(path, mode)
            log.warning("%s was readable by other users; its mode is now %o", path, mode)
    except OSError as exc:  # not ours to change (a mounted volume): say so, do not stop
        log.warning("cannot restrict %s to mode %o: %s", path, mode, type(exc).__name__)
