"""A tiny end-to-end training job against a real MLflow store and registry."""

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from behaviorlab.apps import train
from tests.conftest import SMALL_SIM
from tests.helpers import compose_config

pytestmark = pytest.mark.slow
N_TRIALS = 3


def train_overrides(data_dir, *extra: str) -> list[str]:
    return [
        f"paths.data_dir={data_dir}",
        f"data.simulate.n_customers={SMALL_SIM['n_customers']}",
        f"data.simulate.seed={SMALL_SIM['seed']}",
        "tuning=smoke",
        f"tuning.n_trials={N_TRIALS}",
        "explain.max_rows=300",
        *extra,
    ]


def test_train_logs_parent_with_one_child_per_trial_and_registers(small_sim_dir):
    cfg = compose_config("train", train_overrides(small_sim_dir))
    summary = train.run(cfg)

    client = MlflowClient()
    parent = client.get_run(summary["run_id"])
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert len(children) == N_TRIALS
    assert {child.data.tags["optuna.state"] for child in children} <= {"COMPLETE", "PRUNED"}
    metrics = parent.data.metrics
    for name in ("test_roc_auc", "test_pr_auc", "test_brier", "test_log_loss", "val_roc_auc"):
        assert name in metrics
    assert 0 < float(parent.data.params["data.label_rate"]) < 1
    assert 0.0 <= metrics["test_roc_auc"] <= 1.0
    assert metrics["test_roc_auc"] > 0.6
    assert parent.data.tags["data_fingerprint"]
    assert parent.data.tags["git_commit"]

    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    for plot in ("roc", "pr", "calibration", "confusion", "shap_beeswarm"):
        assert f"plots/{plot}.png" in artifacts, artifacts
    shap_sample = mlflow.load_table("tables/shap_sample.json", run_ids=[parent.info.run_id])
    assert 0 < len(shap_sample) <= 300

    model = mlflow.pyfunc.load_model(f"models:/{summary['model_name']}@champion")
    example = model.input_example
    scored = model.predict(example)
    assert scored["probability"].between(0, 1).all()
    assert set(scored["tier"]) <= {"high", "medium", "low"}
    assert summary["promoted"] is True
