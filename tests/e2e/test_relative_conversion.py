"""The default conversion task (signup + 14 days) trains, gates and scores end to end."""

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from behaviorlab.apps import score, train
from tests.helpers import compose_config, small_sim_overrides

pytestmark = pytest.mark.slow


def test_relative_conversion_trains_and_scores_each_customer_at_its_snapshot(
    small_sim_dir, tmp_path
):
    trained = train.run(
        compose_config(
            "train",
            [
                *small_sim_overrides(small_sim_dir),
                "task=conversion",
                "tuning=smoke",
                "tuning.n_trials=2",
                "explain.max_rows=100",
                "registry.gate.n_boot=200",
                "registry.gate.floor=0.0",
            ],
        )
    )
    assert trained["model_name"] == "conversion-sim"
    params = MlflowClient().get_run(trained["run_id"]).data.params
    assert int(params["gate.rows"]) > 50, "the gate compares on the test period's rows"

    out = tmp_path / "scores.parquet"
    summary = score.run(
        compose_config(
            "score",
            [
                *small_sim_overrides(small_sim_dir),
                f"registered_model=conversion-sim/{trained['model_version']}",
                f"output.path={out}",
                "window_days=120",
                "progress=false",
            ],
        )
    )
    scores = pd.read_parquet(out)
    customers = pd.read_parquet(small_sim_dir / "sim" / "customers.parquet")
    signup = customers.set_index("customer_id")["signup_at"].astype("datetime64[us]")
    expected_cutoff = scores["customer_id"].map(signup) + pd.Timedelta(days=14)
    assert summary["rows"] == len(scores) > 0
    assert (scores["cutoff"] == expected_cutoff).all()
    scoring_cutoff = pd.Timestamp(summary["cutoff"])
    assert (scores["cutoff"] > scoring_cutoff - pd.Timedelta(days=120)).all()
    assert scores["probability"].between(0, 1).all()
