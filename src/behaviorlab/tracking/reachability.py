"""Whether an MLflow tracking server answers, and whether a failure was its loss, told in
the socket's words.

MLflow retries a refused connection for minutes (seven times, with backoff) before it
gives up; a job pointed at a server that is not running should say so at once.
"""

import sys
from urllib.parse import urlsplit

import requests

from behaviorlab.errors import TrackingServerLost, TrackingServerUnreachable

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


def find_lost_tracking_server(error: BaseException) -> TrackingServerLost | None:
    """The tracking server's loss behind ``error``, or None: a connection to the MLflow
    tracking or registry server refused or dropped, anywhere in the chain of exceptions
    (MLflow and the registry calls wrap it in their own)."""
    if "mlflow" not in sys.modules:
        return None
    import mlflow

    servers = {origin(mlflow.get_tracking_uri()), origin(mlflow.get_registry_uri())}
    seen = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        request = getattr(cause, "request", None)
        if isinstance(cause, requests.ConnectionError) and request is not None:
            server = origin(request.url)
            if server in servers:
                return TrackingServerLost(
                    f"lost the MLflow tracking server at {server}: {connection_failure(cause)}"
                )
        cause = cause.__cause__ or cause.__context__
    return None


def origin(url: str) -> str:
    """``scheme://host:port`` of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
