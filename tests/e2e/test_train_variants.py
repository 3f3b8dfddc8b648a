"""Experiment presets, attribute-only training, concurrent jobs and bad input."""

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from behaviorlab.apps import score, train
from behaviorlab.apps.common import CONF_DIR
from behaviorlab.modeling.blend import WEIGHTS
from tests.helpers import compose_config, train_small_version

SCRIPTS = Path(sys.executable).parent
EXPERIMENTS = sorted(path.stem for path in (CONF_DIR / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_and_resolves(experiment):
    cfg = compose_config("train", [f"experiment={experiment}"])
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert resolved["task"]["name"] in {"churn", "conversion", "repurchase"}
    assert resolved["model"]["kind"] in {"lightgbm", "logistic"}
    assert resolved["split"]["kind"] in {"out_of_time", "customer_cv"}


def test_experiments_cover_the_documented_presets():
    assert {"sim_churn", "sim_conversion", "cdnow_repurchase", "ecom_conversion"} <= set(
        EXPERIMENTS
    )


def write_customer_table(path: Path, n: int = 1500, seed: int = 3) -> None:
    """Attributes with a real signal and a label column, as a CRM export would have them."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["free", "basic", "pro"], n, p=[0.5, 0.3, 0.2])
    tenure = rng.gamma(2.0, 200.0, n)
    logit = -1.0 + 1.5 * (plan == "free") - tenure / 400 + rng.normal(0, 0.5, n)
    pd.DataFrame(
        {
            "customer_id": [f"c{i:05d}" for i in range(n)],
            "plan": plan,
            "tenure_days": tenure,
            "label": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int),
        }
    ).to_parquet(path, index=False)


def attribute_overrides(table: Path, data_name: str) -> list[str]:
    """A quick attribute-only training on one customer table."""
    return [
        f"data.name={data_name}",
        "data.events=null",
        "data.simulate=null",
        f"data.customers.path={table}",
        "task=attributes",
        "features=attributes",
        "split=customer_cv",
        "tuning=smoke",
        "tuning.n_trials=2",
        "explain.max_rows=100",
        "registry.gate.n_boot=200",
    ]


@pytest.mark.slow
def test_attribute_only_problem_trains_through_the_same_app(tmp_path):
    table = tmp_path / "customers.parquet"
    write_customer_table(table)
    cfg = compose_config("train", attribute_overrides(table, "crm"))
    summary = train.run(cfg)
    assert summary["roc_auc"] > 0.65
    assert summary["model_name"] == "attributes-crm"
    assert summary["promoted"]

    out = tmp_path / "scores.parquet"
    scored = score.run(
        compose_config(
            "score",
            [
                "registered_model=attributes-crm@champion",
                "data.name=crm",
                "data.events=null",
                "data.simulate=null",
                f"data.customers.path={table}",
                f"output.path={out}",
                "progress=false",
            ],
        )
    )
    scores = pd.read_parquet(out)
    assert scored["rows"] == len(scores) == 1500
    assert scored["tiers"] == {"high": 75, "medium": 225, "low": 1200}
    high = scores.loc[scores["tier"] == "high"]
    assert (high["action"] == "call").all()
    assert high["reason_1"].str.contains(r"\(customers whose label is not 1: ").any()
    assert (high["reason_1_contribution"].dropna() > 0).all()


@pytest.mark.slow
def test_blend_trains_logs_its_weight_and_serves_lightgbm_reasons(small_sim_dir):
    summary = train_small_version(small_sim_dir, "model=blend")
    run = MlflowClient().get_run(summary["run_id"])
    assert float(run.data.params["blend.weight"]) in WEIGHTS
    for part in ("lightgbm", "logistic", "blend"):
        assert 0.6 < run.data.metrics[f"val_roc_auc_{part}"] <= 1
        assert run.data.metrics[f"val_log_loss_{part}"] > 0
    assert summary["roc_auc"] > 0.6

    served = mlflow.pyfunc.load_model(f"models:/{summary['model_name']}/{summary['model_version']}")
    rows = served.input_example
    scored = served.predict(rows)
    assert scored["probability"].between(0, 1).all()
    assert set(scored["tier"]) <= {"high", "medium", "low"}
    model = served.unwrap_python_model().model
    assert model.kind == "blend"
    shap = model.estimator.boosting_.contributions(model.prepare(rows))
    explained = scored["reason_1"].notna().to_numpy()
    assert explained.any()
    np.testing.assert_allclose(
        scored.loc[explained, "reason_1_contribution"].to_numpy(dtype=float),
        shap.to_numpy()[explained].max(axis=1),
    )


def test_bad_input_exits_2_names_the_column_and_leaves_no_run(tmp_path):
    events = tmp_path / "events.csv"
    events.write_text("user,timestamp,event\nu1,2024-01-01 10:00:00,login\n")
    result = subprocess.run(
        [
            str(SCRIPTS / "behaviorlab-train"),
            f"data.events.path={events}",
            "data.events.format=csv",
            "data.simulate=null",
            "data.customers=null",
        ],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "customer_id" in result.stderr
    assert not (tmp_path / "mlruns" / "mlflow.db").exists()
