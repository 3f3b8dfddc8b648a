"""Attributes and the feature spec are point in time: the spec is resolved as of the earliest
cutoff, event-derived attributes come from events before each cutoff, and customer tables
with valid_from/valid_to are joined as of the cutoff."""

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from behaviorlab.data.sources import load_customers
from behaviorlab.data.validation import DataQualityWarning, validate_customers
from behaviorlab.errors import ConfigError, DataValidationError
from behaviorlab.features.builder import build_features, build_training_table
from behaviorlab.features.snapshots import make_calendar_snapshots
from behaviorlab.features.spec import FAMILIES, attribute_timing, resolve_feature_spec
from tests.reference_features import (
    random_event_log,
    reference_event_attributes,
    reference_table_attributes,
)

NOW = pd.Timestamp("2025-01-01")
DAY0 = pd.Timestamp("2024-01-01")
ATTRIBUTES_ONLY = {**dict.fromkeys(FAMILIES, False), "attributes": True}


def day(n: float) -> pd.Timestamp:
    return DAY0 + pd.Timedelta(days=n)


def events_of(rows) -> pd.DataFrame:
    """(customer, day, event, platform) rows."""
    ids, days, names, platforms = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "customer_id": pd.array(ids, dtype="str"),
            "timestamp": pd.Series([day(d) for d in days], dtype="datetime64[us]"),
            "event": pd.array(names, dtype="str"),
            "platform": pd.array(platforms, dtype="str"),
        }
    )


def churn_task(cutoffs: list[pd.Timestamp]) -> dict:
    return {
        "name": "churn",
        "kind": "churn",
        "horizon_days": 5,
        "lookback_days": 60,
        "qualifying_events": None,
        "churn_events": [],
        "snapshots": {"kind": "calendar", "cutoffs": [str(c) for c in cutoffs]},
    }


def snapshots_at(ids: list[str], cutoffs: list[pd.Timestamp]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.array(ids, dtype="str"),
            "cutoff": pd.Series(cutoffs, dtype="datetime64[us]"),
        }
    )


EVENT_ROWS = [
    ("a", 1, "page_view", None),
    ("a", 15, "page_view", "web"),  # first platform of a: after the day-10 cutoff
    ("a", 25, "page_view", "ios"),  # later values never replace the first one
    ("a", 39, "page_view", None),
    ("b", 5, "page_view", "web"),
    ("b", 5, "purchase", "android"),  # a tie at one instant: the smallest value wins
    ("b", 20, "page_view", None),  # exactly at the day-20 cutoff: not seen
    ("b", 39, "page_view", None),
]


def test_event_attribute_first_seen_after_a_cutoff_is_missing_there_and_present_later():
    events = events_of(EVENT_ROWS)
    customers = load_customers({"from_events": ["platform"]}, events=events, now=NOW)
    task = churn_task([day(10), day(20)])
    features = {**ATTRIBUTES_ONLY, "attributes": {"from_events": ["platform"]}}
    table = build_training_table(events, customers, task, features, data_end=day(39))
    got = table.frame.set_index(["customer_id", "cutoff"])["platform"]
    assert pd.isna(got.loc[("a", day(10))])
    assert got.loc[("a", day(20))] == "web"
    assert got.loc[("b", day(10))] == "android"
    assert got.loc[("b", day(20))] == "android"
    assert got.cat.categories.tolist() == ["android", "web"]  # levels seen before day 10
    assert table.attribute_timing == "from_events"
    assert table.resolved_features["as_of"] == day(10).isoformat()
    assert table.feature_names == ["platform"]  # the whole-log customers table is not read


def test_event_attributes_match_the_pandas_reference_at_many_cutoffs():
    events = random_event_log(n_customers=60, n_events=3000, seed=4, days=120)
    rng = np.random.default_rng(0)
    platform = rng.choice(np.array(["web", "ios", "android"]), len(events))
    seats = rng.integers(1, 4, len(events)).astype("float64")
    events = events.assign(
        platform=pd.array(np.where(rng.random(len(events)) < 0.9, None, platform), dtype="str"),
        seats=np.where(rng.random(len(events)) < 0.9, np.nan, seats),
    )
    events.loc[1::50, "timestamp"] = events["timestamp"].shift(1)[1::50]  # ties at one instant
    snapshots = make_calendar_snapshots(events, start="2024-01-20", end="2024-04-20", every_days=15)
    spec = {**ATTRIBUTES_ONLY, "attributes": {"from_events": ["platform", "seats"]}}
    resolved = resolve_feature_spec(spec, events, None)
    got = build_features(events, None, snapshots, resolved)
    want = reference_event_attributes(events, snapshots, ["platform", "seats"])
    pdt.assert_series_equal(got["seats"], want["seats"].astype("float64"))
    pdt.assert_series_equal(
        got["platform"].astype("str").where(got["platform"].notna()), want["platform"]
    )
    assert want["platform"].notna().any()
    assert want["platform"].isna().any()


def timed_customers(with_valid_to: bool) -> pd.DataFrame:
    rows = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "b"],
            "valid_from": ["2024-01-01", "2024-02-01", "2024-01-15", "2024-03-01"],
            "valid_to": ["2024-02-01", None, "2024-01-20", None],
            "plan": ["free", "pro", "basic", "pro"],
            "seats": [1, 5, 2, 3],
        }
    )
    if not with_valid_to:
        rows = rows.drop(columns="valid_to")
    return validate_customers(rows, now=NOW)


@pytest.mark.parametrize("with_valid_to", [True, False])
def test_valid_from_rows_are_joined_as_of_the_cutoff(with_valid_to):
    customers = timed_customers(with_valid_to)
    cutoffs = [day(9), day(31), day(31) + pd.Timedelta(microseconds=-1), day(24), day(65)]
    snapshots = snapshots_at(["a", "a", "a", "b", "b"], cutoffs)
    resolved = resolve_feature_spec(ATTRIBUTES_ONLY, None, customers)
    got = build_features(None, customers, snapshots, resolved)
    # a: free until 2024-02-01 (day 31), pro from it. b: basic on days 14..18 only when the
    # row ends on 2024-01-20, else until its next row on 2024-03-01 (day 60).
    b_day_24 = None if with_valid_to else "basic"
    want_plan = ["free", "pro", "free", b_day_24, "pro"]
    want_seats = [1.0, 5.0, 1.0, np.nan if with_valid_to else 2.0, 3.0]
    by_key = got.set_index(["customer_id", "cutoff"]).loc[
        list(zip(snapshots["customer_id"], snapshots["cutoff"], strict=True))
    ]
    assert [None if pd.isna(v) else v for v in by_key["plan"]] == want_plan
    assert by_key["seats"].tolist() == pytest.approx(want_seats, nan_ok=True)
    reference = reference_table_attributes(customers, got[["customer_id", "cutoff"]], ["seats"])
    pdt.assert_series_equal(got["seats"], reference["seats"].astype("float64"))
    assert attribute_timing(resolved) == "as_of"


def test_levels_of_a_timed_table_are_those_known_at_as_of():
    customers = timed_customers(with_valid_to=True)
    resolved = resolve_feature_spec(ATTRIBUTES_ONLY, None, customers, as_of=day(20))
    plan = next(c for c in resolved["attributes"]["columns"] if c["name"] == "plan")
    assert plan["levels"] == ["basic", "free"]  # "pro" starts after 2024-01-21


def test_static_table_is_reported_and_tagged_as_static():
    events = events_of(EVENT_ROWS)
    customers = pd.DataFrame(
        {"customer_id": pd.array(["a", "b"], dtype="str"), "plan": pd.array(["x", "y"])}
    )
    table = build_training_table(
        events, customers, churn_task([day(10)]), ATTRIBUTES_ONLY, data_end=day(39)
    )
    assert table.attribute_timing == "static"
    tags = table.timing_tags()
    assert tags["attribute_timing"] == "static"
    assert "assumed constant" in tags["warning.static_attributes"]
    timed = build_training_table(
        events, timed_customers(True), churn_task([day(10)]), ATTRIBUTES_ONLY, data_end=day(39)
    )
    assert timed.attribute_timing == "as_of"
    assert "warning.static_attributes" not in timed.timing_tags()


def test_customer_file_with_validity_columns_loads_several_rows_per_customer(tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text("id,start,end,plan\n7,2024-01-01,2024-02-01,free\n7,2024-02-01,,pro\n")
    spec = {"path": str(path), "columns": {"customer_id": "id"}, "valid_from": "start"}
    customers = load_customers({**spec, "valid_to": "end"}, now=NOW)
    assert customers.columns.tolist() == ["customer_id", "valid_from", "valid_to", "plan"]
    assert customers["valid_to"].isna().tolist() == [False, True]
    path.write_text("id,start,end,plan\n7,2024-01-01,2024-03-01,free\n7,2024-02-01,,pro\n")
    with pytest.raises(DataValidationError, match="rows valid at the same time: 1 of 2 rows"):
        load_customers({**spec, "valid_to": "end"}, now=NOW)
    with pytest.raises(DataValidationError, match=r"'id' \(customer_id\) repeats ids"):
        load_customers({"path": str(path), "columns": {"customer_id": "id"}}, now=NOW)
    with pytest.raises(
        DataValidationError, match=r"'valid_from' \(mapped from 'when'\) is missing"
    ):
        load_customers({**spec, "valid_from": "when"}, now=NOW)


def test_validation_rejects_empty_intervals_and_two_rows_starting_together():
    rows = pd.DataFrame(
        {
            "customer_id": ["a", "a"],
            "valid_from": ["2024-01-01", "2024-01-01"],
            "plan": ["free", "pro"],
        }
    )
    with pytest.raises(DataValidationError, match="valid at the same time"):
        validate_customers(rows, now=NOW)
    backwards = rows.iloc[:1].assign(valid_to=["2023-12-01"])
    with pytest.raises(DataValidationError, match="'valid_to' is not after 'valid_from'"):
        validate_customers(backwards, now=NOW)


def test_spec_is_resolved_from_history_before_the_earliest_cutoff():
    rows = [("a", 1, "page_view", None), ("a", 2, "page_view", None)]
    rows += [("a", 12 + i / 10, "flash_sale", None) for i in range(5)]
    rows += [("a", 39, "page_view", None)]
    events = events_of(rows)
    features = {**dict.fromkeys(FAMILIES, False), "activity": {"top_k": 3}}
    table = build_training_table(
        events, None, churn_task([day(10), day(20)]), features, data_end=day(39)
    )
    assert table.resolved_features["as_of"] == day(10).isoformat()
    assert table.resolved_features["activity"]["event_types"] == ["page_view"]
    earlier = build_training_table(
        events, None, churn_task([day(10)]), {**features, "as_of": "2024-01-02 12:00"}, day(39)
    )
    assert earlier.resolved_features["as_of"] == "2024-01-02T12:00:00"
    with pytest.raises(ConfigError, match="after the earliest cutoff"):
        build_training_table(
            events, None, churn_task([day(10)]), {**features, "as_of": str(day(11))}, day(39)
        )
    with pytest.warns(DataQualityWarning, match="before any event"):
        resolve_feature_spec(features, events, None, as_of=day(0))


def test_attribute_only_task_reads_a_timed_table_at_its_cutoff():
    customers = timed_customers(with_valid_to=True).assign(label=[0, 1, 1, 0])
    task = {
        "name": "attributes",
        "kind": "attributes",
        "label_column": "label",
        "positive_value": 1,
        "snapshots": {"cutoff": str(day(40))},
    }
    table = build_training_table(None, customers, task, {"attributes": True})
    frame = table.frame.set_index("customer_id")
    assert frame.index.tolist() == ["a"]  # b has no row valid on day 40
    assert frame.loc["a", "label"] == 1
    assert frame.loc["a", "plan"] == "pro"
    assert table.resolved_features["as_of"] == day(40).isoformat()
    no_date = {**task, "snapshots": {"cutoff": None}}
    with pytest.raises(ConfigError, match="needs a cutoff"):
        build_training_table(None, customers, no_date, {"attributes": True})
