"""The behaviour simulator: deterministic, consistent with its own truth, oracle calibrated."""

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
from pandas.testing import assert_frame_equal

from behaviorlab.apps import simulate as simulate_app
from behaviorlab.data.simulator import BLOCK_CUSTOMERS, simulate, write_simulation
from behaviorlab.data.simulator.oracle import expm_batch
from behaviorlab.errors import ConfigError
from tests.helpers import compose_config

PERIOD = {"start": "2024-01-01", "end": "2025-06-30"}
N = BLOCK_CUSTOMERS + 1000
HORIZON = pd.Timedelta(days=30)
FILES = ("events", "customers", "truth")


@pytest.fixture(scope="module")
def sim():
    return simulate(n_customers=N, seed=3, **PERIOD)


@pytest.fixture(scope="module")
def cutoff(sim):
    return pd.Timestamp(sim.summary["oracle_cutoff"])


def read_files(directory) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(directory / f"{name}.parquet") for name in FILES}


def test_frames_follow_the_contract(sim):
    events, customers = sim.events, sim.customers
    assert list(events.columns) == ["customer_id", "timestamp", "event", "amount", "session_id"]
    assert str(events["timestamp"].dtype) == "datetime64[us]"
    assert events["customer_id"].dtype == "str"
    assert events["amount"].dtype == "float64"
    assert str(customers["signup_at"].dtype) == "datetime64[us]"
    for column in ("acquisition_channel", "plan", "platform", "country"):
        assert customers[column].dtype == "category"
    assert customers["customer_id"].is_unique
    assert len(customers) == len(sim.truth) == N
    ordered = events.sort_values(["customer_id", "timestamp"], kind="stable")
    assert ordered.index.equals(events.index)
    assert events["timestamp"].min() >= pd.Timestamp(PERIOD["start"])
    assert events["timestamp"].max() < pd.Timestamp(PERIOD["end"])


def test_vocabulary_funnel_and_amounts(sim):
    events = sim.events
    expected = {"login", "page_view", "product_view", "search", "add_to_cart", "checkout"}
    expected |= {"purchase", "upgrade", "support_contact", "error"}
    assert set(events["event"].unique()) == expected
    counts = events["event"].value_counts()
    assert counts["page_view"] > counts["add_to_cart"] > counts["checkout"] > counts["purchase"]
    purchase = events["event"] == "purchase"
    assert events.loc[purchase, "amount"].gt(0).all()
    assert events.loc[~purchase, "amount"].isna().all()


def test_sessions_are_short_and_never_cross_midnight(sim):
    sessions = sim.events.groupby("session_id")["timestamp"].agg(["min", "max"])
    assert (sessions["min"].dt.normalize() == sessions["max"].dt.normalize()).all()
    assert (sessions["max"] - sessions["min"]).quantile(0.9) < pd.Timedelta(hours=1)
    first_owner = sim.events.groupby("session_id")["customer_id"].nunique()
    assert (first_owner == 1).all()


def test_same_seed_writes_identical_files(tmp_path):
    first = write_simulation(tmp_path / "a", n_customers=500, seed=5, **PERIOD)
    second = write_simulation(tmp_path / "b", n_customers=500, seed=5, **PERIOD)
    assert first["events"] == second["events"] > 0
    for name in FILES:
        a = (tmp_path / "a" / f"{name}.parquet").read_bytes()
        assert a == (tmp_path / "b" / f"{name}.parquet").read_bytes()
    assert {p.name for p in (tmp_path / "a").iterdir()} == {f"{n}.parquet" for n in FILES}


def test_different_seed_differs():
    one = simulate(n_customers=300, seed=1, **PERIOD)
    two = simulate(n_customers=300, seed=2, **PERIOD)
    assert not one.events.equals(two.events)
    assert not one.truth["segment"].equals(two.truth["segment"])


def test_chunked_writing_matches_in_memory(sim, tmp_path):
    summary = write_simulation(
        tmp_path / "sim", n_customers=N, seed=3, chunk_customers=BLOCK_CUSTOMERS, **PERIOD
    )
    written = read_files(tmp_path / "sim")
    for name in FILES:
        assert_frame_equal(written[name], getattr(sim, name))
    assert summary["events"] == len(sim.events)
    assert {k: v for k, v in summary.items() if k != "out_dir"} == sim.summary


def test_no_event_before_signup_or_after_churn(sim):
    events = sim.events.merge(sim.customers[["customer_id", "signup_at"]], on="customer_id")
    assert (events["timestamp"] >= events["signup_at"]).all()
    first = sim.events.groupby("customer_id")["timestamp"].min()
    signup = sim.customers.set_index("customer_id")["signup_at"]
    assert (first == signup.loc[first.index]).all()
    churned = sim.truth.dropna(subset=["churn_at"])
    assert len(churned) > N // 5
    last = sim.events.groupby("customer_id")["timestamp"].max()
    assert (last.loc[churned["customer_id"]].to_numpy() < churned["churn_at"].to_numpy()).all()


def test_upgrade_events_are_the_conversions(sim):
    upgrades = sim.events[sim.events["event"] == "upgrade"]
    assert upgrades["customer_id"].is_unique
    converted = sim.truth.dropna(subset=["converted_at"]).set_index("customer_id")
    assert len(converted) > 50
    at = upgrades.set_index("customer_id")["timestamp"]
    assert_frame_equal(
        at.sort_index().to_frame("t"), converted["converted_at"].sort_index().to_frame("t")
    )
    plans = sim.customers.set_index("customer_id").loc[converted.index, "plan"]
    assert set(plans) <= {"free", "trial"}


def test_oracle_is_a_probability_with_nan_where_undefined(sim, cutoff):
    truth = sim.truth.merge(sim.customers[["customer_id", "signup_at"]], on="customer_id")
    signed_up = truth["signup_at"] < cutoff
    assert truth.loc[signed_up, "oracle_churn"].between(0, 1).all()
    assert truth.loc[~signed_up, "oracle_churn"].isna().all()
    assert (truth.loc[truth["state_at_cutoff"] == "churned", "oracle_churn"] == 1).all()
    already = truth["converted_at"] < cutoff
    conversion = truth["oracle_conversion"]
    assert conversion[already | ~signed_up].isna().all()
    assert conversion[signed_up & ~already].between(0, 1).all()
    assert (conversion[truth["state_at_cutoff"] == "churned"].dropna() == 0).all()
    assert (truth["churn_at"].dropna() < pd.Timestamp(PERIOD["end"])).all()
    assert (truth["oracle_cutoff"] == cutoff).all()


def realised_labels(sim, cutoff) -> pd.DataFrame:
    """Per customer: active in the 30 days before the cutoff, silent and upgrading after it."""
    ts, who = sim.events["timestamp"], sim.events["customer_id"]
    before = set(who[(ts >= cutoff - HORIZON) & (ts < cutoff)])
    after = set(who[(ts >= cutoff) & (ts < cutoff + HORIZON)])
    truth = sim.truth.set_index("customer_id")
    converted = truth["converted_at"]
    return pd.DataFrame(
        {
            "active": truth.index.isin(list(before)),
            "churn": ~truth.index.isin(list(after)),
            "convert": (converted >= cutoff) & (converted < cutoff + HORIZON),
            "oracle_churn": truth["oracle_churn"],
            "oracle_conversion": truth["oracle_conversion"],
        },
        index=truth.index,
    )


def assert_calibrated(labels: pd.Series, oracle: pd.Series) -> None:
    """Realised rate within four standard errors of the oracle's mean (Poisson-binomial)."""
    tolerance = 4 * np.sqrt((oracle * (1 - oracle)).sum()) / len(oracle)
    assert abs(labels.mean() - oracle.mean()) < tolerance, (labels.mean(), oracle.mean())


def test_oracle_churn_is_calibrated(sim, cutoff):
    table = realised_labels(sim, cutoff)
    active = table[table["active"]]
    assert len(active) > 600
    assert 0.1 < active["churn"].mean() < 0.5
    assert_calibrated(active["churn"], active["oracle_churn"])
    high = active["oracle_churn"] > active["oracle_churn"].median()
    assert_calibrated(active.loc[high, "churn"], active.loc[high, "oracle_churn"])
    assert_calibrated(active.loc[~high, "churn"], active.loc[~high, "oracle_churn"])


def test_oracle_conversion_is_calibrated(sim, cutoff):
    table = realised_labels(sim, cutoff).dropna(subset=["oracle_conversion"])
    assert table["convert"].sum() > 10
    assert_calibrated(table["convert"], table["oracle_conversion"])


def test_oracle_ranks_churn_but_not_perfectly(sim, cutoff):
    table = realised_labels(sim, cutoff)
    active = table[table["active"]]
    churners = active.loc[active["churn"], "oracle_churn"].to_numpy()
    stayers = active.loc[~active["churn"], "oracle_churn"].to_numpy()
    auc = (churners[:, None] > stayers[None, :]).mean()
    assert 0.8 < auc < 0.97


def test_segments_differ_in_activity_and_spend(sim):
    events = sim.events.merge(sim.truth[["customer_id", "segment"]], on="customer_id")
    per_customer = events.groupby(["segment", "customer_id"], observed=True)["session_id"]
    sessions = per_customer.nunique().groupby("segment", observed=True).mean()
    assert sessions["power_user"] > sessions["casual_browser"]
    assert sessions["power_user"] > sessions["dormant_valuable"]
    spend = events[events["event"] == "purchase"].groupby("segment", observed=True)["amount"]
    median = spend.median()
    assert median["bargain_hunter"] < median["casual_browser"] < median["dormant_valuable"]


def test_matrix_exponential_matches_scipy():
    rng = np.random.default_rng(0)
    matrices = rng.normal(size=(50, 3, 3)) * rng.choice([0.01, 1.0, 40.0], size=(50, 1, 1))
    expected = np.stack([scipy.linalg.expm(matrix) for matrix in matrices])
    np.testing.assert_allclose(expm_batch(matrices), expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"end": "2023-06-01"}, "must be after start"),
        ({"oracle_cutoff": "2025-06-15"}, "needs 30 days"),
        ({"oracle_cutoff": "2025-03-01 12:00"}, "must be a midnight"),
        ({"start": "not a date"}, "start='not a date'"),
        ({"n_customers": 0}, "n_customers"),
    ],
)
def test_bad_arguments_raise_config_errors(overrides, message):
    arguments = {"n_customers": 10, "seed": 1, **PERIOD, **overrides}
    with pytest.raises(ConfigError, match=message):
        simulate(**arguments)


def test_app_run_writes_files_and_reports(tmp_path):
    out = tmp_path / "sim"
    cfg = compose_config("simulate", ["n_customers=200", f"out_dir={out}"])
    summary = simulate_app.run(cfg)
    assert summary["customers"] == 200
    assert summary["events"] == len(pd.read_parquet(out / "events.parquet"))
    assert "200 customers" in simulate_app.format_summary(summary)
