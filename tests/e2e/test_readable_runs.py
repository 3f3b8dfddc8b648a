"""What a reviewer sees in the MLflow UI: named runs, descriptions, params, previewable tables."""

import re

import pytest
from mlflow.tracking import MlflowClient

from behaviorlab.apps import train
from tests.e2e.test_train_app import train_overrides
from tests.helpers import compose_config

pytestmark = pytest.mark.slow
SIZES = ("data.rows", "data.customers", "data.cutoffs", "data.features")
GATE_SIZES = ("gate.rows", "gate.customers")
REMOVED = (
    "rows",
    "customers",
    "cutoffs",
    "features",
    "gate_rows",
    "gate_customers",
    "label_rate",
    "test_valid_roc_auc",
    "test_brier_calibrated",
    "test_lift_top_decile",
    "test_fold_roc_auc_std",
    "test_n",
)


def test_a_training_run_and_its_version_read_well_in_the_ui(small_sim_dir):
    summary = train.run(compose_config("train", train_overrides(small_sim_dir)))
    client = MlflowClient()
    parent = client.get_run(summary["run_id"])

    assert re.fullmatch(r"churn-lightgbm-sim-\d{8}-\d{4}", parent.info.run_name)
    metrics, params = parent.data.metrics, parent.data.params
    note = parent.data.tags["mlflow.note.content"]
    assert f"Test ROC AUC {metrics['test_roc_auc']:.4f}" in note
    low, high = metrics["test_roc_auc_ci_low"], metrics["test_roc_auc_ci_high"]
    assert low < metrics["test_roc_auc"] < high
    assert f"95% interval {low:.4f} to {high:.4f}" in note
    assert parent.data.tags["data_fingerprint"] in note
    assert f"{int(params['data.rows']):,} rows" in note
    assert summary["decision_line"] in note

    assert all(int(params[name]) > 0 for name in SIZES + GATE_SIZES)
    assert not set(REMOVED) & set(metrics)
    assert all(name.startswith(("test_", "val_")) for name in metrics), sorted(metrics)
    assert metrics["val_roc_auc"] > 0.5

    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert children
    assert all(set(child.data.metrics) == {"val_roc_auc"} for child in children)

    tables = [entry.path for entry in client.list_artifacts(parent.info.run_id, "tables")]
    assert {"tables/trials.json", "tables/lift.json", "tables/shap_importance.json"} <= set(tables)
    assert all(path.endswith((".json", ".csv")) for path in tables), tables

    version = client.get_model_version(summary["model_name"], summary["model_version"])
    assert len(version.tags) <= 8, sorted(version.tags)
    assert version.tags["gate.decision"] == "promoted to champion"
    assert version.description.startswith("**promoted to champion**: first model")
    assert "Champion before the decision: none" in version.description
    assert f"Test ROC AUC {metrics['test_roc_auc']:.4f}" in version.description
    assert parent.info.run_name in version.description
