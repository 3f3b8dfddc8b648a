"""Opening runs and logging to them; everything else in the package stays MLflow-free.

No run is left RUNNING: a run ends FINISHED, FAILED or (stopped by SIGTERM) KILLED with its
job, and a job that could not end its runs (``kill -9``, a lost machine) is found out by
the next job that opens a run in the same experiment. Every run records its host, process
and a heartbeat for that purpose.
"""

import contextlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from behaviorlab.locks import sqlite_creation_lock
from behaviorlab.processes import host_name, process_alive, process_start_time, stops_held
from behaviorlab.tracking.reachability import check_reachable

HOST_TAG = "host"
PID_TAG = "pid"
PID_STARTED_TAG = "pid_started"
HEARTBEAT_TAG = "heartbeat"
END_REASON_TAG = "end_reason"
NOTE_TAG = "mlflow.note.content"
STORE_CREATION_LOGGERS = ("mlflow.store.db.utils", "alembic.runtime.migration")
FINISHED, FAILED, KILLED = "FINISHED", "FAILED", "KILLED"
DEFAULT_HEARTBEAT_SECONDS = 60
DEFAULT_STALE_AFTER_MINUTES = 30

_log = logging.getLogger(__name__)
_open_run_ids: set[str] = set()


def configure(tracking_uri: str | None = None) -> str:
    """Point MLflow at the given store; an MLFLOW_TRACKING_URI in the environment wins.

    A server that does not answer stops the job at once (``check_reachable``).

    A local SQLite store is created under a lock, so jobs started together do not race, and
    without MLflow's INFO lines about creating its tables (stderr is for errors and warnings).
    """
    uri = os.environ.get("MLFLOW_TRACKING_URI") or tracking_uri
    if uri is None:
        raise ValueError("no MLflow tracking URI configured")
    check_reachable(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(os.environ.get("MLFLOW_REGISTRY_URI") or uri)
    for logger in STORE_CREATION_LOGGERS:
        logging.getLogger(logger).setLevel(logging.WARNING)
    with sqlite_creation_lock(uri):
        MlflowClient().search_experiments(max_results=1)
    return uri


def ensure_experiment(name: str, artifact_location: str | None = None) -> str:
    """Return the experiment id, creating it when new.

    With a local SQLite store the artifacts go to ``artifact_location`` (beside the store),
    never to a folder relative to wherever the app happened to run.
    """
    client = MlflowClient()
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = None
    if artifact_location and mlflow.get_tracking_uri().startswith("sqlite:"):
        location = Path(artifact_location).resolve().as_uri()
    try:
        return client.create_experiment(name, artifact_location=location)
    except mlflow.exceptions.MlflowException:
        return client.get_experiment_by_name(name).experiment_id


@contextlib.contextmanager
def open_run(
    tracking: Mapping[str, Any],
    run_name: str,
    tags: Mapping[str, str] | None = None,
    experiment_name: str | None = None,
) -> Iterator[mlflow.ActiveRun]:
    """A top-level run that ends FINISHED, FAILED, or KILLED when a SIGTERM stops the job.

    Runs of the experiment abandoned by dead jobs are ended first (see
    ``end_abandoned_runs``); a daemon thread refreshes this job's heartbeat tag while it runs.
    The experiment is also made current, so logged models land beside the run.
    """
    configure(tracking.get("tracking_uri"))
    name = experiment_name or tracking["experiment_name"]
    experiment_id = ensure_experiment(name, tracking.get("artifact_location"))
    mlflow.set_experiment(experiment_id=experiment_id)
    end_abandoned_runs(
        experiment_id, tracking.get("stale_after_minutes", DEFAULT_STALE_AFTER_MINUTES)
    )
    every = float(tracking.get("heartbeat_seconds") or DEFAULT_HEARTBEAT_SECONDS)
    with contextlib.ExitStack() as ending:
        with stops_held():
            run = mlflow.start_run(
                experiment_id=experiment_id,
                run_name=run_name,
                tags=dict(tags or {}) | describe_process(),
            )
            ending.enter_context(beating_heart(every))
            ending.enter_context(ending_with_outcome(run))
        yield run


@contextlib.contextmanager
def open_child_run(
    run_name: str, tags: Mapping[str, str] | None = None
) -> Iterator[mlflow.ActiveRun]:
    """A run nested under the active one, ended like its parent."""
    with contextlib.ExitStack() as ending:
        with stops_held():
            run = mlflow.start_run(
                run_name=run_name, nested=True, tags=dict(tags or {}) | describe_process()
            )
            ending.enter_context(ending_with_outcome(run))
        yield run


def describe_process() -> dict[str, str]:
    """Where the run's job lives: enough for a later job to tell whether it still does."""
    pid = os.getpid()
    started = process_start_time(pid)
    return {
        HOST_TAG: host_name(),
        PID_TAG: str(pid),
        HEARTBEAT_TAG: utc_now(),
    } | ({PID_STARTED_TAG: repr(started)} if started is not None else {})


def utc_now() -> str:
    """The heartbeat stamp: UTC time in ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def choose_status(error: BaseException | None) -> str:
    """How a run ends after its body: an interrupt may say (SIGTERM ends it KILLED)."""
    if error is None:
        return FINISHED
    if isinstance(error, KeyboardInterrupt):
        return getattr(error, "run_status", FAILED)
    return FAILED


@contextlib.contextmanager
def ending_with_outcome(run: mlflow.ActiveRun) -> Iterator[None]:
    """End ``run`` (and any run still open above it) with the status its body earned."""
    run_id = run.info.run_id
    _open_run_ids.add(run_id)
    try:
        yield
    except BaseException as error:
        end_runs_through(run_id, choose_status(error))
        if isinstance(error, KeyboardInterrupt):
            with contextlib.suppress(Exception):
                MlflowClient().set_tag(run_id, END_REASON_TAG, str(error) or "interrupted")
        raise
    else:
        end_runs_through(run_id, FINISHED)


def end_runs_through(run_id: str, status: str) -> None:
    """End the active runs from the innermost one down to ``run_id``."""
    _open_run_ids.discard(run_id)
    while (active := mlflow.active_run()) is not None:
        _open_run_ids.discard(active.info.run_id)
        mlflow.end_run(status)
        if active.info.run_id == run_id:
            return


@contextlib.contextmanager
def beating_heart(every: float) -> Iterator[None]:
    """Refresh the heartbeat tag of this process's open runs every ``every`` seconds.

    A daemon thread, so it never holds up the exit of a stopped job; a failed refresh is
    logged and retried at the next beat rather than stopping the job.
    """
    client = MlflowClient(tracking_uri=mlflow.get_tracking_uri())
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            for run_id in tuple(_open_run_ids):
                try:
                    client.set_tag(run_id, HEARTBEAT_TAG, utc_now())
                except Exception as error:
                    _log.warning("could not refresh the heartbeat of run %s: %s", run_id, error)

    thread = threading.Thread(target=beat, name="mlflow-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()


def end_abandoned_runs(experiment_id: str, stale_after_minutes: float | None) -> list[str]:
    """Mark KILLED the RUNNING runs of an experiment whose job is gone; return their ids.

    A run started on this host is abandoned once its process no longer runs (pid and start
    time); a run from another host (a shared tracking server), or one that records no
    process, once its heartbeat is older than ``stale_after_minutes`` (None: never).
    """
    client = MlflowClient()
    here = host_name()
    ended = []
    for run in find_running_runs(client, experiment_id):
        reason = judge_abandonment(run, here, time.time(), stale_after_minutes)
        if reason is None:
            continue
        client.set_tag(run.info.run_id, END_REASON_TAG, reason)
        client.set_terminated(run.info.run_id, KILLED, end_time=int(read_last_seen(run) * 1000))
        ended.append(run.info.run_id)
    return ended


def find_running_runs(client: MlflowClient, experiment_id: str) -> list:
    """Every RUNNING run of the experiment, page by page."""
    found, token = [], None
    while True:
        page = client.search_runs(
            [experiment_id], "attributes.status = 'RUNNING'", page_token=token
        )
        found.extend(page)
        token = page.token
        if not token:
            return found


def judge_abandonment(run, host: str, now: float, stale_after_minutes: float | None) -> str | None:
    """Why the run's job is known to be gone, or None while it may still be running."""
    tags = run.data.tags
    pid = tags.get(PID_TAG, "")
    if tags.get(HOST_TAG) == host and pid.isdigit():
        started = tags.get(PID_STARTED_TAG)
        if process_alive(int(pid), float(started) if started else None):
            return None
        return f"process {pid} on {host} ended without ending the run"
    if stale_after_minutes is None:
        return None
    silent_minutes = (now - read_last_seen(run)) / 60
    if silent_minutes <= float(stale_after_minutes):
        return None
    return f"no heartbeat from {tags.get(HOST_TAG, 'its host')} for {silent_minutes:.0f} minutes"


def read_last_seen(run) -> float:
    """When the run's job was last known alive (epoch seconds): its heartbeat, else its start."""
    stamp = run.data.tags.get(HEARTBEAT_TAG)
    if stamp:
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(stamp).timestamp()
    return run.info.start_time / 1000


def log_params(params: Mapping[str, Any]) -> None:
    """Log parameters, stringifying values MLflow cannot take as they are."""
    mlflow.log_params({key: _short(value) for key, value in params.items()})


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log the finite numeric entries of a metrics dict."""
    finite = {
        key: float(value)
        for key, value in metrics.items()
        if isinstance(value, int | float) and value == value and abs(value) != float("inf")
    }
    mlflow.log_metrics(finite, step=step)


def log_artifacts(local_dir: str | Path, artifact_path: str | None = None) -> None:
    """Copy a folder of outputs (tables, charts, reports) onto the active run."""
    mlflow.log_artifacts(str(local_dir), artifact_path=artifact_path)


def log_artifact(local_path: str | Path, artifact_path: str | None = None) -> None:
    """Copy one file onto the active run."""
    mlflow.log_artifact(str(local_path), artifact_path=artifact_path)


def set_tags(tags: Mapping[str, Any]) -> None:
    """Tag the active run."""
    mlflow.set_tags({key: str(value) for key, value in tags.items()})


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 6000 else text[:5997] + "..."


def log_child_run(
    run_name: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    tags: Mapping[str, Any],
    start_ms: int | None,
    end_ms: int | None,
    status: str = "FINISHED",
) -> str:
    """Record a finished unit of work (an Optuna trial) as a child of the active run.

    Written after the fact with its real start and end times, so the caller needs no open run.
    """
    parent = mlflow.active_run()
    client = MlflowClient()
    with stops_held():
        child = client.create_run(
            parent.info.experiment_id,
            start_time=start_ms,
            tags={"mlflow.parentRunId": parent.info.run_id, "mlflow.runName": run_name}
            | {key: str(value) for key, value in tags.items()}
            | describe_process(),
            run_name=run_name,
        )
        run_id = child.info.run_id
        try:
            client.log_batch(
                run_id,
                metrics=[
                    Metric(key, float(value), end_ms or 0, 0)
                    for key, value in metrics.items()
                    if isinstance(value, int | float) and value == value
                ],
                params=[Param(key, _short(value)) for key, value in params.items()],
            )
        except BaseException as error:
            client.set_terminated(run_id, status=choose_status(error))
            raise
        client.set_terminated(run_id, status=status, end_time=end_ms)
        return run_id


def log_figure(figure, artifact_file: str) -> None:
    """Log a matplotlib figure as a PNG and release it."""
    import matplotlib.pyplot as plt

    mlflow.log_figure(figure, artifact_file)
    plt.close(figure)


def log_table(frame, artifact_file: str) -> None:
    """Log a frame by the file's suffix: JSON as an MLflow table (the UI previews it), CSV,
    or Parquet for frames that code reads back with their dtypes."""
    if artifact_file.endswith(".json"):
        mlflow.log_table(frame, artifact_file)
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(artifact_file).name
        if path.suffix == ".csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
        parent = str(Path(artifact_file).parent)
        mlflow.log_artifact(str(path), artifact_path=None if parent == "." else parent)


def describe_run(markdown: str) -> None:
    """Set the active run's description (the markdown the UI shows on the run's page)."""
    mlflow.set_tag(NOTE_TAG, markdown)


def log_dict(data: Mapping[str, Any], artifact_file: str) -> None:
    """Log a dict as a YAML or JSON artifact (by the file's suffix)."""
    mlflow.log_dict(dict(data), artifact_file)


def log_text(text: str, artifact_file: str) -> None:
    """Log text (a resolved config, a brief) as an artifact."""
    mlflow.log_text(text, artifact_file)


def log_input_table(frame, name: str, source: str, context: str = "training") -> None:
    """Record the training table as the run's input dataset (visible in the UI).

    The source is built as a local-file source: MLflow's guess from a bare path finds two
    matching source kinds and warns on every run. The table's schema is a record, never
    enforced on input, so MLflow's hint about integer columns and missing values (meant
    for model signatures) does not apply to it.
    """
    import json
    import warnings

    from mlflow.data.dataset_source_registry import get_dataset_source_from_json

    local_file = get_dataset_source_from_json(json.dumps({"uri": source}), source_type="local")
    dataset = mlflow.data.from_pandas(frame, source=local_file, name=name)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*schema contains integer column")
        mlflow.log_input(dataset, context=context)


def describe_environment(root: str | Path) -> dict[str, str]:
    """Git commit and library versions, so a run can be reproduced."""
    import importlib.metadata as metadata

    tags = {"git_commit": _git_commit(Path(root))}
    for package in (
        "behaviorlab",
        "lightgbm",
        "scikit-learn",
        "optuna",
        "pandas",
        "duckdb",
        "ibis-framework",
        "mlflow",
        "shap",
        "numpy",
    ):
        try:
            tags[f"version.{package}"] = metadata.version(package)
        except metadata.PackageNotFoundError:
            tags[f"version.{package}"] = "absent"
    return tags


def _git_commit(root: Path) -> str:
    import subprocess

    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return result.stdout.strip() + ("-dirty" if dirty else "")
