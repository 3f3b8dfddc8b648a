"""Reading finished runs back: what a comparison needs from runs other jobs logged."""

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

PARENT_TAG = "mlflow.parentRunId"
TRAINING_TAG = "model"  # every training parent run names its model kind


@dataclass(frozen=True)
class RunRecord:
    """One logged run as a comparison sees it: names, headline metrics, which files it has."""

    run_id: str
    name: str
    experiment: str
    status: str
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    artifacts: frozenset[str] = frozenset()


def find_run(run_id: str, wanted: tuple[str, ...]) -> RunRecord | None:
    """The run with this id and which of the ``wanted`` artifact files it holds; None when
    the store has no such run."""
    client = MlflowClient()
    try:
        run = client.get_run(run_id)
    except MlflowException:
        return None
    experiment = client.get_experiment(run.info.experiment_id)
    return RunRecord(
        run_id=run.info.run_id,
        name=run.info.run_name or run.info.run_id,
        experiment=experiment.name if experiment else run.info.experiment_id,
        status=run.info.status,
        tags=dict(run.data.tags),
        metrics=dict(run.data.metrics),
        artifacts=frozenset(path for path in wanted if has_artifact(client, run_id, path)),
    )


def has_artifact(client: MlflowClient, run_id: str, path: str) -> bool:
    """Whether the run logged the file ``path`` (listing its folder, reading nothing)."""
    folder = str(PurePosixPath(path).parent)
    listed = client.list_artifacts(run_id, None if folder == "." else folder)
    return any(item.path == path and not item.is_dir for item in listed)


def training_run_ids(experiment_name: str, max_runs: int) -> list[str] | None:
    """Ids of the experiment's finished training parent runs, newest first (trial child runs
    and other apps' runs left out); None when there is no such experiment."""
    client = MlflowClient()
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return None
    found = client.search_runs(
        [experiment.experiment_id],
        "attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1000,
    )
    parents = [
        run.info.run_id
        for run in found
        if PARENT_TAG not in run.data.tags and TRAINING_TAG in run.data.tags
    ]
    return parents[:max_runs]


def read_run_table(run_id: str, path: str, folder: str | Path) -> pd.DataFrame:
    """A Parquet table a run logged, downloaded into ``folder`` and read."""
    local = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=path, dst_path=str(Path(folder) / run_id)
    )
    return pd.read_parquet(local)
