"""The CLV model end to end: fitted and registered by behaviorlab-clv, loaded back through
MLflow, and used by behaviorlab-score for clv, value at risk and value-ranked tiers."""

import json
import shutil
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from behaviorlab.apps import clv, score
from behaviorlab.errors import ConfigError, DataValidationError
from behaviorlab.modeling.clv import summarize_purchases
from behaviorlab.scoring.customer_value import (
    SUMMARY_COLUMNS,
    CustomerValue,
    FittedClv,
    fit_clv,
)
from behaviorlab.scoring.predict import assign_ranked_tiers
from tests.helpers import compose_config, small_sim_overrides, train_small_version

pytestmark = pytest.mark.slow
HOLDOUT_DAYS = 60
OUTPUTS = ["expected_purchases", "probability_alive", "expected_order_value", "clv"]


def clv_config(data_dir: Path, *extra: str):
    return compose_config(
        "clv", [*small_sim_overrides(data_dir), f"holdout_days={HOLDOUT_DAYS}", *extra]
    )


@pytest.fixture(scope="module")
def models_store(small_sim_dir, tmp_path_factory) -> tuple[Path, dict]:
    """A store holding a churn champion and a CLV champion, made once for the module."""
    root = tmp_path_factory.mktemp("clv")
    store = root / "mlruns" / "mlflow.db"
    store.parent.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
        patch.setenv("MLFLOW_REGISTRY_URI", f"sqlite:///{store}")
        patch.setenv("BEHAVIORLAB_ROOT", str(root))
        mlflow.set_tracking_uri(f"sqlite:///{store}")
        mlflow.set_registry_uri(f"sqlite:///{store}")
        assert train_small_version(small_sim_dir)["promoted"]
        fitted = clv.run(clv_config(small_sim_dir))
    return store, fitted


@pytest.fixture
def models(models_store, mlflow_store) -> dict:
    """This test's store starts as a copy of the module's (artifacts stay shared)."""
    store, fitted = models_store
    shutil.copy(store, mlflow_store.removeprefix("sqlite:///"))
    mlflow.set_tracking_uri(mlflow_store)
    mlflow.set_registry_uri(mlflow_store)
    return fitted


def sim_purchases(data_dir: Path) -> pd.DataFrame:
    events = pd.read_parquet(data_dir / "sim" / "events.parquet")
    purchases = events.loc[events["event"] == "purchase", ["customer_id", "timestamp", "amount"]]
    return purchases.assign(customer_id=purchases["customer_id"].astype("str"))


def test_registered_champion_answers_like_the_in_process_model(small_sim_dir, models):
    version = MlflowClient().get_model_version_by_alias("clv-sim", "champion")
    assert str(version.version) == models["version"] == "1"

    cutoff = pd.Timestamp(models["cutoff"])
    purchases = sim_purchases(small_sim_dir)
    summary = summarize_purchases(purchases, cutoff)
    settings = {"horizon_days": 90, "months": 12, "monthly_discount": 0.01, "margin": 1.0}
    in_process = fit_clv(summary, "pareto_nbd", settings | {"purchase_events": ["purchase"]})
    loaded = mlflow.pyfunc.load_model("models:/clv-sim@champion")
    served = loaded.predict(summary[SUMMARY_COLUMNS].astype("float64"))
    assert list(served.columns) == OUTPUTS
    pd.testing.assert_frame_equal(served, in_process.predict(summary), rtol=1e-6)
    assert served["clv"].gt(0).all()
    assert served["probability_alive"].between(0, 1).all()

    # The holdout's actual purchase days, counted here from the raw events: days in the
    # last HOLDOUT_DAYS before the cutoff of customers who bought before that window.
    start = cutoff - pd.Timedelta(days=HOLDOUT_DAYS)
    days = purchases.assign(day=purchases["timestamp"].dt.normalize())
    known = days.loc[days["day"] < start, "customer_id"].unique()
    window = days.loc[days["day"].between(start, cutoff, inclusive="left")]
    actual = window.loc[window["customer_id"].isin(known)].drop_duplicates(["customer_id", "day"])
    run = MlflowClient().get_run(version.run_id)
    assert run.data.metrics["holdout.actual_purchases"] == len(actual) > 0
    assert abs(run.data.metrics["holdout.error_pct"]) < 50
    assert run.data.params["transactions_model"] == "pareto_nbd"


def test_scores_carry_clv_and_tiers_rank_by_value_at_risk(small_sim_dir, models, tmp_path):
    out = tmp_path / "scores.parquet"
    overrides = [*small_sim_overrides(small_sim_dir), f"output.path={out}", "progress=false"]
    overrides += ["clv_model=clv-sim@champion", "rank_by=value_at_risk"]
    overrides += ["partition_customers=700"]
    result = score.run(compose_config("score", overrides))
    scores = pd.read_parquet(out)
    assert result["clv_model_version"] == "1"
    assert {*OUTPUTS, "value_at_risk"} <= set(scores.columns)
    assert set(scores["clv_model_version"]) == {"1"}
    np.testing.assert_allclose(scores["value_at_risk"], scores["probability"] * scores["clv"])
    assert result["clv_total"] == pytest.approx(scores["clv"].sum())

    # Customers valued from their purchases before the cutoff, as the registered model does.
    summary = summarize_purchases(sim_purchases(small_sim_dir), pd.Timestamp(result["cutoff"]))
    served = mlflow.pyfunc.load_model("models:/clv-sim@champion").predict(summary)
    valued = summary[["customer_id"]].assign(want=served["clv"].to_numpy())
    joined = scores.merge(valued, on="customer_id", how="left")
    buyers = joined["want"].notna()
    assert buyers.any()
    assert (~buyers).any()
    np.testing.assert_allclose(joined.loc[buyers, "clv"], joined.loc[buyers, "want"])
    assert (joined.loc[~buyers, "clv"] == 0).all()
    assert joined.loc[~buyers, "probability_alive"].isna().all()

    # Capacity tiers: the top 5 % by value at risk are high, the next 15 % medium.
    n = len(scores)
    counts = scores["tier"].value_counts()
    assert counts["high"] == round(0.05 * n)
    assert counts["medium"] == round(0.20 * n) - counts["high"]
    by_tier = scores.groupby("tier")["value_at_risk"]
    assert by_tier.min()["high"] >= by_tier.max()["medium"]
    assert by_tier.min()["medium"] >= by_tier.max()["low"]
    by_probability = scores["probability"].rank(ascending=False, method="first") <= counts["high"]
    assert set(scores.loc[by_probability, "customer_id"]) != set(
        scores.loc[scores["tier"] == "high", "customer_id"]
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["clv_model=clv-none@champion"], "clv_model: no registered model named 'clv-none'"),
        (["clv_model=clv-sim@gone"], "clv_model: clv-sim has no version or alias 'gone'"),
        (["clv_model=clv-sim/0"], "clv_model must be name@alias, name/version"),
        (["rank_by=value_at_risk"], "rank_by value_at_risk needs clv_model"),
        (["clv_model=clv-sim", "engine=spark"], "clv_model is not supported with engine=spark"),
    ],
)
def test_bad_clv_settings_stop_with_one_line(
    small_sim_dir, models, tmp_path, capsys, extra, message
):
    out = tmp_path / "scores.parquet"
    overrides = [*small_sim_overrides(small_sim_dir), f"output.path={out}", *extra]
    with pytest.raises(SystemExit) as stopped:
        score.run(compose_config("score", overrides))
    assert stopped.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {message}")
    assert not out.exists()


def test_bg_nbd_model_round_trips_as_json_and_values_customers_at_a_cutoff(small_sim_dir):
    summary = summarize_purchases(sim_purchases(small_sim_dir), "2025-03-01")
    settings = {"horizon_days": 30, "months": 6, "monthly_discount": 0.0, "margin": 0.3}
    fitted = fit_clv(summary, "bg_nbd", settings | {"purchase_events": ["purchase"]})
    restored = FittedClv.from_dict(json.loads(json.dumps(fitted.to_dict())))
    assert restored.kind == "bg_nbd"
    pd.testing.assert_frame_equal(restored.predict(summary), fitted.predict(summary))

    # At a cutoff: a buyer (two purchase days: frequency 1, recency 9, T 18, spend 30) is
    # valued from that history; a customer who bought only later, or only browsed, is not.
    # T counts the days from the first purchase day to the day before the cutoff.
    events = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "c"],
            "timestamp": pd.to_datetime(
                [
                    "2025-02-10 09:00",
                    "2025-02-19 10:00",
                    "2025-03-05 00:00",
                    "2025-03-02 00:00",
                    "2025-02-11 12:00",
                ]
            ),
            "event": ["purchase", "purchase", "purchase", "purchase", "page_view"],
            "amount": [10.0, 30.0, 99.0, 50.0, 0.0],
        }
    )
    value = CustomerValue.of_events(restored, pd.Timestamp("2025-03-01"), events)
    valued = value.score(events, pd.Series(["c", "a", "b"]))
    history = pd.DataFrame({"frequency": [1.0], "recency": [9.0], "T": [18.0]})
    want = restored.predict(history.assign(monetary_value=30.0))
    pd.testing.assert_frame_equal(valued.iloc[[1]].reset_index(drop=True), want)
    assert valued.loc[[0, 2], "clv"].tolist() == [0.0, 0.0]
    assert valued.loc[[0, 2], "probability_alive"].isna().all()
    with pytest.raises(DataValidationError, match="amount"):
        CustomerValue.of_events(restored, pd.Timestamp("2025-03-01"), events.drop(columns="amount"))
    with pytest.raises(ConfigError, match="no event log"):
        CustomerValue.of_events(restored, pd.Timestamp("2025-03-01"), None)


def test_value_at_risk_ranks_capacity_tiers_only():
    probability = np.array([0.9, 0.5, 0.1, 0.2])
    value_at_risk = probability * np.array([1.0, 10.0, 100.0, 0.0])
    capacity = {"mode": "capacity", "high": 0.25, "medium": 0.25, "rank_by": "value_at_risk"}
    tiers = assign_ranked_tiers(probability, capacity, value_at_risk)
    assert list(tiers) == ["low", "medium", "high", "low"]
    thresholds = {"mode": "thresholds", "high": 0.8, "rank_by": "value_at_risk"}
    with pytest.raises(ConfigError, match="ranks capacity tiers"):
        assign_ranked_tiers(probability, thresholds, value_at_risk)
    with pytest.raises(ConfigError, match="needs clv_model"):
        assign_ranked_tiers(probability, capacity)
