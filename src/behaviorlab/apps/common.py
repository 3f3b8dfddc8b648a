"""What every app shares: user errors as one clear message and exit status 2, a lost
tracking server as one line and exit status 1, and jobs that unwind cleanly (runs ended,
temporary files removed) when SIGTERM or SIGINT stops them.
"""

import contextlib
import functools
import logging
import os
import signal
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.errors import ConfigCompositionException, OverrideParseException
from omegaconf import DictConfig, OmegaConf

from behaviorlab.data.staging import staging_scope
from behaviorlab.data.validation import DataQualityWarning
from behaviorlab.errors import BehaviorlabError
from behaviorlab.processes import stop_or_hold
from behaviorlab.tracking.reachability import find_lost_tracking_server

if TYPE_CHECKING:
    from behaviorlab.data.sources import Dataset

EXIT_USER_ERROR = 2
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
HYDRA_USAGE_ERRORS = (OverrideParseException, ConfigCompositionException)
HYDRA_FULL_ERROR = "HYDRA_FULL_ERROR"
ARTIFACTS_PROGRESS_BAR = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


class Stopped(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM or SIGINT, so the job unwinds like on Ctrl-C.

    ``run_status`` is how the job's MLflow runs end: KILLED for SIGTERM (what ``timeout``
    and schedulers send), FAILED for SIGINT as for a plain KeyboardInterrupt.
    """

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum
        self.run_status = "KILLED" if signum == signal.SIGTERM else "FAILED"


class ExitAtOnce(SystemExit):
    """Exit status of a job whose tracking server is gone: its message is printed, and
    the entry point exits without the interpreter's teardown, where MLflow would retry
    ending the job's runs on that server. A SystemExit, so Hydra lets it through quietly."""


def entry_point(main: Callable[..., Any]) -> Callable[..., Any]:
    """Console entry-point manners shared by every app.

    A bad Hydra override (unknown key, wrong type, unparsable, missing config) exits 2 with
    Hydra's message on one ``error:`` line, like the apps' other user errors; set
    HYDRA_FULL_ERROR=1 for Hydra's traceback instead. SIGTERM or SIGINT unwinds the job and
    exits 128 + the signal number (130 for SIGINT, 143 for SIGTERM). A lost tracking
    server exits 1 with one ``error:`` line, at once: MLflow would otherwise retry ending
    the job's runs on the way out. MLflow's artifact download bars stay off (they fill a
    job's log) unless the environment turns them on.
    """

    @functools.wraps(main)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        os.environ.setdefault(ARTIFACTS_PROGRESS_BAR, "false")
        wants_trace = os.environ.get(HYDRA_FULL_ERROR) == "1"
        try:
            with stopping_on_signals(), hydra_errors_raised(), data_warnings_on_one_line():
                return main(*args, **kwargs)
        except HYDRA_USAGE_ERRORS as error:
            if wants_trace:
                raise
            print(f"error: {usage_message(error)}", file=sys.stderr)
            sys.exit(EXIT_USER_ERROR)
        except Stopped as stop:
            print(str(stop), file=sys.stderr)
            exit_at_once(128 + stop.signum)
        except ExitAtOnce as done:
            exit_at_once(done.code)

    return guarded


@contextlib.contextmanager
def stopping_on_signals() -> Iterator[None]:
    """Turn the first SIGTERM or SIGINT into ``Stopped``; a second one exits at once.

    Raising from the handler ends whatever the main thread is doing (an Optuna trial, a
    LightGBM fit between iterations, a scoring chunk) so ``finally`` blocks and context
    managers clean up; another signal during that cleanup means "now", not "again". Inside
    ``processes.stops_held`` (a run being written) the stop waits for the block's end.
    """
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}

    def exit_now(signum: int, frame: Any) -> None:
        os._exit(128 + signum)

    def stop(signum: int, frame: Any) -> None:
        for other in STOP_SIGNALS:
            signal.signal(other, exit_now)
        stop_or_hold(Stopped(signum))

    for signum in STOP_SIGNALS:
        signal.signal(signum, stop)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def exit_at_once(status: int) -> None:
    """Flush the output and logs, then exit without the interpreter's teardown.

    Called once a stopped job has unwound (runs ended, temporary files removed): tearing
    down this many C extensions takes seconds that a scheduler's grace period lacks.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status)


@contextlib.contextmanager
def data_warnings_on_one_line() -> Iterator[None]:
    """Show a DataQualityWarning as one ``warning: ...`` line, like errors, without the
    source line Python prints under it."""
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if not issubclass(category, DataQualityWarning):
            previous(message, category, filename, lineno, file, line)
            return
        print(f"warning: {message}", file=file or sys.stderr)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


@contextlib.contextmanager
def hydra_errors_raised() -> Iterator[None]:
    """Let Hydra raise its errors instead of printing them and exiting 1 itself."""
    before = os.environ.get(HYDRA_FULL_ERROR)
    os.environ[HYDRA_FULL_ERROR] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(HYDRA_FULL_ERROR, None)
        else:
            os.environ[HYDRA_FULL_ERROR] = before


def usage_message(error: Exception) -> str:
    """Hydra's message on one line, with the OmegaConf reason it wraps (a type, a key)."""
    lines = []
    for line in str(error).splitlines():
        if line.startswith("Config search path"):
            break
        if line.strip():
            lines.append(line.strip())
    message = " ".join(lines)
    cause = error.__cause__
    if cause is not None and str(cause).strip():
        message += f" ({str(cause).strip().splitlines()[0]})"
    return message


def exit_on_user_error(run: Callable[..., Any]) -> Callable[..., Any]:
    """Print a BehaviorlabError as one line on stderr and exit 2 instead of a traceback.

    The staged copies of the data a run made are removed when it ends, however it ends.

    An error that is not the user's (a failing model registry) sets its own ``exit_status``.
    A failure that is the tracking server's loss, however MLflow wrapped it, is one
    TrackingServerLost line and exit status 1 too (see ``ExitAtOnce``).
    """

    @functools.wraps(run)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            with staging_scope():
                return run(*args, **kwargs)
        except Exception as error:
            lost = find_lost_tracking_server(error)
            if lost is not None:
                print(f"error: {lost}", file=sys.stderr)
                raise ExitAtOnce(lost.exit_status) from error
            if not isinstance(error, BehaviorlabError):
                raise
            print(f"error: {error}", file=sys.stderr)
            sys.exit(getattr(error, "exit_status", EXIT_USER_ERROR))

    return guarded


def to_plain(cfg: DictConfig | None) -> dict | None:
    """Resolve a config node into plain containers that core functions accept."""
    if cfg is None:
        return None
    return OmegaConf.to_container(cfg, resolve=True)


CONF_DIR = Path(__file__).resolve().parents[3] / "conf"


def open_dataset(cfg: DictConfig) -> "Dataset":
    """The app's data validated and staged under ``paths.cache_dir``, its events a lazy
    table of the configured engine (``engine=duckdb`` or ``engine=spark``).

    On a cluster the cache folder must be storage the executors can read.
    """
    from behaviorlab.data.sources import load_dataset
    from behaviorlab.engines import connect_engine

    return load_dataset(
        to_plain(cfg.data),
        engine=connect_engine(to_plain(cfg.engine)),
        staging_root=Path(cfg.paths.cache_dir) / "staging",
    )


def compose_app(config_name: str, overrides: list[str] | None = None) -> DictConfig:
    """Compose an app's config in-process exactly as its command line would."""
    from hydra import compose, initialize_config_dir

    from behaviorlab.apps.schemas import register_schemas

    register_schemas()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR), job_name="app"):
        return compose(config_name=config_name, overrides=list(overrides or []))
