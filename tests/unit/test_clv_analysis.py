"""The CLV analysis end to end on a small simulated purchase log, as a frame and as a lazy
DuckDB table."""

import duckdb
import ibis
import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from behaviorlab.analysis.clv import run_clv
from behaviorlab.analysis.pipeline import Inputs
from behaviorlab.errors import ConfigError, DataValidationError

START = pd.Timestamp("2024-01-01")
SETTINGS = {
    "cutoff": None,
    "purchase_event": "purchase",
    "transactions_model": "pareto_nbd",
    "alive_model": "pareto_nbd",
    "penalizer": 0.0,
    "horizon_days": 90,
    "months": 6,
    "monthly_discount": 0.01,
    "margin": 0.4,
    "value_shares": [0.2, 0.3],
    "alive_threshold": 0.5,
    "holdout_days": 60,
}


def simulate_events(n: int = 400, seed: int = 5) -> pd.DataFrame:
    """Pareto/NBD buyers over one year: first purchase in the first 60 days, Poisson buying
    until an exponential dropout, Gamma-Gamma spend (each customer's own Gamma scale); plus
    page views that are not purchases."""
    rng = np.random.default_rng(seed)
    first = rng.uniform(0, 60, n)
    lifetime = rng.exponential(rng.uniform(30, 400, n))
    span = np.minimum(lifetime, 365 - first)
    repeats = rng.poisson(rng.gamma(1.0, 1 / 25, n) * span)
    owner = np.repeat(np.arange(n), repeats)
    day = np.concatenate([first, first[owner] + rng.uniform(size=owner.size) * span[owner]])
    who = np.concatenate([np.arange(n), owner])
    views = rng.integers(0, n, 300)
    scale = 1 / rng.gamma(3.0, 1 / 20.0, n)
    events = pd.DataFrame(
        {
            "customer_id": pd.array(
                [f"c{i:03d}" for i in np.concatenate([who, views])], dtype="str"
            ),
            "timestamp": START
            + pd.to_timedelta(np.concatenate([day, rng.uniform(0, 365, 300)]), unit="D"),
            "event": pd.array(["purchase"] * who.size + ["view"] * 300, dtype="str"),
            "amount": np.concatenate([rng.gamma(4.0, scale[who]), np.zeros(300)]),
        }
    )
    events["timestamp"] = events["timestamp"].astype("datetime64[us]")
    return events


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return simulate_events()


def inputs_of(events) -> Inputs:
    end = events["timestamp"].max() if isinstance(events, pd.DataFrame) else None
    if end is None:
        end = events["timestamp"].max().to_pandas()
    return Inputs(events=events, customers=None, data_end=pd.Timestamp(end))


@pytest.fixture(scope="module")
def result(events):
    return run_clv(inputs_of(events), SETTINGS)


def test_every_purchaser_is_scored_once_and_segmented(events, result):
    customers = result.details["clv_customers"]
    purchasers = events.loc[events["event"] == "purchase", "customer_id"].unique()
    assert sorted(customers["customer_id"]) == sorted(purchasers)
    segments = result.tables["clv_segments"]
    assert segments["customers"].sum() == len(purchasers)
    assert segments["share"].sum() == pytest.approx(1.0)
    assert segments["total_clv"].sum() == pytest.approx(customers["clv"].sum())
    high = customers["value_tier"] == "high"
    assert high.sum() == round(0.2 * len(customers))
    assert customers.loc[high, "clv"].min() >= customers.loc[~high, "clv"].max()
    at_risk = customers["status"] == "at risk"
    assert (customers.loc[at_risk, "probability_alive"] < 0.5).all()
    assert result.metrics["clv_customers"] == len(purchasers)


def test_holdout_compares_the_last_days_with_a_refit(events, result):
    """Actual holdout purchases: purchase days in the last 60 days of customers who had
    bought before them, counted here directly from the log."""
    table = result.tables["clv_holdout"]
    assert list(table["frequency"]) == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    cutoff = inputs_of(events).cutoff
    start = cutoff - pd.Timedelta(days=60)
    bought = events[(events["event"] == "purchase") & (events["timestamp"] < cutoff)]
    early = bought.loc[bought["timestamp"] < start, "customer_id"].unique()
    late = bought[(bought["timestamp"] >= start) & bought["customer_id"].isin(early)]
    days = late.assign(day=late["timestamp"].dt.normalize()).drop_duplicates(["customer_id", "day"])
    assert result.metrics["clv_holdout_actual"] == len(days)
    assert table["customers"].sum() == len(early)
    assert (table["actual"] * table["customers"]).sum() == pytest.approx(len(days))
    assert set(result.figures) == {"clv_segments", "clv_holdout"}
    assert "60 days before the cutoff" in result.text


def test_lazy_duckdb_events_give_the_same_result(events, result):
    con = ibis.duckdb.from_connection(duckdb.connect())
    lazy = run_clv(inputs_of(con.create_table("events", events)), SETTINGS)
    for name, table in result.tables.items():
        pdt.assert_frame_equal(lazy.tables[name], table, rtol=1e-5)
    pdt.assert_frame_equal(
        lazy.details["clv_customers"], result.details["clv_customers"], rtol=1e-5
    )
    assert lazy.text == result.text


def test_brief_names_the_segments_to_act_on(result):
    """High value at risk first, then high value alive, then medium value at risk (those
    present), each with its customer count."""
    segments = result.tables["clv_segments"].set_index("segment")
    order = ["high value, at risk", "high value, alive", "medium value, at risk"]
    present = [name for name in order if name in segments.index]
    assert len(present) >= 2
    assert result.text.startswith("# CLV brief at ")
    for rank, name in enumerate(present, start=1):
        count = int(segments.loc[name, "customers"])
        assert f"{rank}. **{name}**: {count:,} customers" in result.text


def test_without_amounts_value_is_expected_purchases(events):
    settings = {**SETTINGS, "holdout_days": None}
    got = run_clv(inputs_of(events.drop(columns="amount")), settings)
    customers = got.details["clv_customers"]
    assert customers["expected_order_value"].isna().all()
    assert "no amounts" in got.text
    assert "clv_holdout" not in got.tables
    assert not any(name.startswith("clv_gamma_gamma") for name in got.metrics)
    # Six months of discounted purchases exceed the first 90 days' but stay below their double.
    assert (customers["clv"] >= customers["expected_purchases"] * 0.99).all()


def test_bg_nbd_alive_model_calls_one_time_buyers_alive(events):
    settings = {**SETTINGS, "holdout_days": None, "alive_model": "bg_nbd"}
    customers = run_clv(inputs_of(events), settings).details["clv_customers"]
    once = customers["frequency"] == 0
    assert once.any()
    assert (customers.loc[once, "probability_alive"] == 1.0).all()


def test_bad_settings_and_data_are_refused(events):
    with pytest.raises(ConfigError, match=r"analysis\.clv\.transactions_model must be one of"):
        run_clv(inputs_of(events), {**SETTINGS, "transactions_model": "nbd"})
    with pytest.raises(ConfigError, match="holdout_days"):
        run_clv(inputs_of(events), {**SETTINGS, "holdout_days": -5})
    with pytest.raises(ConfigError, match="alive_threshold"):
        run_clv(inputs_of(events), {**SETTINGS, "alive_threshold": 1.5})
    with pytest.raises(DataValidationError, match="'order'"):
        run_clv(inputs_of(events), {**SETTINGS, "purchase_event": "order"})
    with pytest.raises(DataValidationError, match="holdout_days"):
        run_clv(inputs_of(events), {**SETTINGS, "holdout_days": 2000})


def test_segment_metrics_add_up_to_the_customers_and_value(result):
    customers = result.details["clv_customers"]
    counts = customers["segment"].value_counts()
    for segment, count in counts.items():
        key = segment.replace(", ", "_").replace(" ", "_")
        assert result.metrics[f"clv_{key}_customers"] == count
    segment_totals = [
        value
        for name, value in result.metrics.items()
        if name.endswith("_total") and name != "clv_total"
    ]
    assert len(segment_totals) == len(counts)
    assert sum(segment_totals) == pytest.approx(result.metrics["clv_total"])
