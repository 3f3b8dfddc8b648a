"""Serialising critical sections on a local SQLite store across processes.

Two jobs started at once against a fresh store would both try to create its tables; the
loser fails with "table already exists". Two gates finishing together would both judge
against the same champion. A lock file beside the database makes each happen once at a
time while other use needs no lock.
"""

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

SQLITE_PREFIX = "sqlite:///"


@contextlib.contextmanager
def sqlite_lock(url: str, purpose: str) -> Iterator[None]:
    """Hold an exclusive lock file named for ``purpose`` beside a SQLite database URL; a
    no-op for other URLs (a server serialises its own writes)."""
    if not url.startswith(SQLITE_PREFIX):
        yield
        return
    database = Path(url.removeprefix(SQLITE_PREFIX))
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(database.with_name(f"{database.name}.{purpose}"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def sqlite_creation_lock(url: str) -> contextlib.AbstractContextManager[None]:
    """The lock under which a fresh store's tables are created once."""
    return sqlite_lock(url, "lock")
