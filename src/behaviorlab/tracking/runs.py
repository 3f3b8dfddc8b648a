"""Opening runs and logging to them; everything else in the package stays MLflow-free."""

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import mlflow
from mlflow.tracking import MlflowClient


def configure(tracking_uri: str | None = None) -> str:
    """Point MLflow at the given store; an MLFLOW_TRACKING_URI in the environment wins."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or tracking_uri
    if uri is None:
        raise ValueError("no MLflow tracking URI configured")
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(os.environ.get("MLFLOW_REGISTRY_URI") or uri)
    return uri


def ensure_experiment(name: str, artifact_location: str | None = None) -> str:
    """Return the experiment id, creating it (with its artifact root) when new."""
    client = MlflowClient()
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = None
    if artifact_location and "MLFLOW_TRACKING_URI" not in os.environ:
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
    """A top-level run that ends FAILED (never RUNNING) when the body raises."""
    configure(tracking.get("tracking_uri"))
    name = experiment_name or tracking["experiment_name"]
    experiment_id = ensure_experiment(name, tracking.get("artifact_location"))
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
