"""Serialising the first use of a local SQLite store across processes.

Two jobs started at once against a fresh store would both try to create its tables; the
loser fails with "table already exists". A lock file beside the database makes the
creation happen once while later use needs no lock.
"""

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

SQLITE_PREFIX = "sqlite:///"


@contextlib.contextmanager
def sqlite_creation_lock(url: str) -> Iterator[None]:
    """Hold an exclusive lock beside a SQLite database URL; a no-op for other URLs."""
    if not url.startswith(SQLITE_PREFIX):
        yield
        return
    database = Path(url.removeprefix(SQLITE_PREFIX))
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(database.with_name(database.name + ".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
