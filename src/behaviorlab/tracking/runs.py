"""Opening runs and logging to them; everything else in the package stays MLflow-free."""

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from behaviorlab.locks import sqlite_creation_lock


def configure(tracking_uri: str | None = None) -> str:
    """Point MLflow at the given store; an MLFLOW_TRACKING_URI in the environment wins.

    A local SQLite store is created under a lock, so jobs started together do not race.
    """
    uri = os.environ.get("MLFLOW_TRACKING_URI") or tracking_uri
    if uri is None:
        raise ValueError("no MLflow tracking URI configured")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(os.environ.get("MLFLOW_REGISTRY_URI") or uri)
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
    """A top-level run that ends FAILED (never RUNNING) when the body raises.

    The experiment is also made current, so logged models land beside the run.
    """
    configure(tracking.get("tracking_uri"))
    name = experiment_name or tracking["experiment_name"]
    experiment_id = ensure_experiment(name, tracking.get("artifact_location"))
    mlflow.set_experiment(experiment_id=experiment_id)
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=run_name, tags=dict(tags or {})
    ) as run:
        yield run


@contextlib.contextmanager
def open_child_run(
    run_name: str, tags: Mapping[str, str] | None = None
) -> Iterator[mlflow.ActiveRun]:
    """A run nested under the active one."""
    with mlflow.start_run(run_name=run_name, nested=True, tags=dict(tags or {})) as run:
        yield run


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
    child = client.create_run(
        parent.info.experiment_id,
        start_time=start_ms,
        tags={"mlflow.parentRunId": parent.info.run_id, "mlflow.runName": run_name}
        | {key: str(value) for key, value in tags.items()},
        run_name=run_name,
    )
    run_id = child.info.run_id
    client.log_batch(
        run_id,
        metrics=[
            Metric(key, float(value), end_ms or 0, 0)
            for key, value in metrics.items()
            if isinstance(value, int | float) and value == value
        ],
        params=[Param(key, _short(value)) for key, value in params.items()],
    )
    client.set_terminated(run_id, status=status, end_time=end_ms)
    return run_id


def log_figure(figure, artifact_file: str) -> None:
    """Log a matplotlib figure as a PNG and release it."""
    import matplotlib.pyplot as plt

    mlflow.log_figure(figure, artifact_file)
    plt.close(figure)


def log_table(frame, artifact_file: str) -> None:
    """Log a frame as a Parquet (or CSV) artifact."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(artifact_file).name
        if path.suffix == ".csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
        parent = str(Path(artifact_file).parent)
        mlflow.log_artifact(str(path), artifact_path=None if parent == "." else parent)


def log_dict(data: Mapping[str, Any], artifact_file: str) -> None:
    """Log a dict as a YAML or JSON artifact (by the file's suffix)."""
    mlflow.log_dict(dict(data), artifact_file)


def log_text(text: str, artifact_file: str) -> None:
    """Log text (a resolved config, a brief) as an artifact."""
    mlflow.log_text(text, artifact_file)


def log_input_table(frame, name: str, source: str, context: str = "training") -> None:
    """Record the training table as the run's input dataset (visible in the UI)."""
    dataset = mlflow.data.from_pandas(frame, source=source, name=name)
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
