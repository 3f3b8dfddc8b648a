"""Whether a process recorded earlier (by pid and start time) is still the one running.

Jobs leave traces behind when they are killed (an MLflow run left RUNNING, a temporary
file); the next job cleans them up only once their owner is known to be gone. A pid alone
is not enough, since the system reuses pids: the start time read from /proc tells a new
process from the old one on Linux; elsewhere only the pid is checked.
"""

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

PROC = Path("/proc")


def host_name() -> str:
    """The name this machine records its jobs under."""
    return socket.gethostname()


def process_start_time(pid: int) -> float | None:
    """When the process started, in seconds since the epoch; None when unknown or gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in (PROC / "stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def process_alive(pid: int, started: float | None = None) -> bool:
    """True when ``pid`` runs and, given its recorded start time, is that same process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if started is None:
        return True
    now_started = process_start_time(pid)
    return now_started is None or abs(now_started - started) < 1e-3


class _StopHold:
    """How deep the main thread is in held blocks, and the stop that came meanwhile."""

    depth = 0
    pending: BaseException | None = None


@contextlib.contextmanager
def stops_held() -> Iterator[None]:
    """Hold a stop (see ``stop_or_hold``) until the block ends, then raise it.

    For records a store writes in several calls (a run created, then ended): a SIGTERM
    between them would leave the run RUNNING with nothing left to end it.
    """
    _StopHold.depth += 1
    try:
        yield
    finally:
        _StopHold.depth -= 1
        if _StopHold.depth == 0:
            raise_held_stop()


@contextlib.contextmanager
def stops_released() -> Iterator[None]:
    """Inside held blocks, let stops through again for a long computation that a stop must
    cut short: a stop held so far is raised on entry, and holding resumes on exit."""
    depth, _StopHold.depth = _StopHold.depth, 0
    try:
        raise_held_stop()
        yield
    finally:
        _StopHold.depth = depth


def raise_held_stop() -> None:
    """Raise the stop held so far, if one came."""
    if _StopHold.pending is not None:
        stop, _StopHold.pending = _StopHold.pending, None
        raise stop


def stop_or_hold(stop: BaseException) -> None:
    """From a signal handler: raise ``stop`` now, or as the held block ends."""
    if _StopHold.depth:
        _StopHold.pending = stop
        return
    raise stop
