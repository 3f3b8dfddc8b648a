"""Whether an MLflow tracking server answers, told in the socket's words.

MLflow retries a refused connection for minutes (seven times, with backoff) before it
gives up; a job pointed at a server that is not running should say so at once.
"""

from urllib.parse import urlsplit

import requests

from behaviorlab.errors import TrackingServerUnreachable

PROBE_SECONDS = 10.0


def connection_failure(error: Exception) -> str:
    """What went wrong with a connection, in the socket's words ("Connection refused",
    "Remote end closed connection without response"), without urllib3's wrappers."""
    reason = error.args[0] if error.args else error
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError names its cause
    if (
        isinstance(reason, Exception)
        and len(reason.args) == 2
        and isinstance(reason.args[1], Exception)
    ):
        reason = reason.args[1]  # ("Connection aborted.", RemoteDisconnected(...))
    return str(reason).rsplit(": ", 1)[-1]


def check_reachable(uri: str) -> None:
    """One request to an http(s) server's health endpoint; any answer (even 401) will do.
    Other stores (SQLite files) are not servers and pass."""
    if urlsplit(uri).scheme not in ("http", "https"):
        return
    try:
        requests.get(f"{uri.rstrip('/')}/health", timeout=PROBE_SECONDS)
    except requests.ConnectionError as error:
        raise TrackingServerUnreachable(
            f"cannot reach the MLflow tracking server at {uri}: {connection_failure(error)} "
            "(is it running? make server starts the team's)"
        ) from None
