"""The training table: labels + features, the Parquet cache, attribute-only tasks, and
agreement with the plain-pandas reference on a generated log."""

import pandas as pd
import pandas.testing as pdt
import pytest

from behaviorlab.data.simulator import simulate
from behaviorlab.features.builder import build_features, build_training_table
from behaviorlab.features.snapshots import make_calendar_snapshots
from behaviorlab.features.spec import feature_columns, resolve_feature_spec
from tests.reference_features import random_event_log, reference_features

CHURN = {
    "name": "churn",
    "kind": "churn",
    "horizon_days": 30,
    "lookback_days": 30,
    "qualifying_events": None,
    "churn_events": [],
    "snapshots": {"kind": "calendar", "start": "2025-01-01", "end": "2025-05-01", "every_days": 60},
}


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return random_event_log(n_customers=150, n_events=6000, seed=3)


@pytest.fixture(scope="module")
def customers(events) -> pd.DataFrame:
    ids = sorted(events["customer_id"].unique())
    plans = ["free", "pro", "team"]
    return pd.DataFrame(
        {
            "customer_id": pd.array(ids, dtype="str"),
            "plan": pd.array([plans[i % 3] for i in range(len(ids))], dtype="str"),
            "seats": [float(i % 5) for i in range(len(ids))],
        }
    )


@pytest.mark.parametrize("source", ["simulator", "random"])
def test_builder_equals_the_pandas_reference(source, events):
    if source == "simulator":
        events = simulate(n_customers=200, seed=5, start="2024-01-01", end="2025-06-30").events
    snapshots = make_calendar_snapshots(events, start="2024-03-01", end="2025-05-01", every_days=91)
    spec = {"windows": [7, 30, 90], "sessions": {"source": "gap"}}
    spec = resolve_feature_spec(spec, events, None)
    got = build_features(events, None, snapshots, spec)
    want = reference_features(events, snapshots, spec)
    assert set(want.columns) == set(got.columns)  # the reference covers every event feature
    pdt.assert_frame_equal(got[want.columns], want, rtol=1e-9)


def test_training_table_is_cached_by_data_and_config(events, customers, tmp_path):
    first = build_training_table(events, customers, CHURN, {}, cache_dir=tmp_path)
    again = build_training_table(events, customers, CHURN, {}, cache_dir=tmp_path)
    assert not first.from_cache
    assert again.from_cache
    assert again.path == first.path
    assert again.path.exists()
    pdt.assert_frame_equal(again.frame, first.frame)
    assert list(first.frame.columns[:3]) == ["customer_id", "cutoff", "label"]
    assert first.feature_names == feature_columns(first.resolved_features)
    assert first.categorical_features == ["plan"]
    assert first.frame["plan"].cat.categories.tolist() == ["free", "pro", "team"]
    changed = build_training_table(events.iloc[1:], customers, CHURN, {}, cache_dir=tmp_path)
    other_task = build_training_table(
        events, customers, {**CHURN, "horizon_days": 14}, {}, cache_dir=tmp_path
    )
    assert not changed.from_cache
    assert not other_task.from_cache
    assert len({first.path, changed.path, other_task.path}) == 3


def test_training_rows_are_the_labelled_snapshots_with_their_features(events):
    table = build_training_table(events, None, CHURN, {"windows": [30]})
    frame = table.frame
    assert frame["label"].isin([0, 1]).all()
    last_day = events["timestamp"].max().normalize()
    assert frame["cutoff"].max() + pd.Timedelta(days=30) <= last_day + pd.Timedelta(days=1)
    assert frame["count_events_30d"].gt(0).all()  # churn eligibility: active in the lookback
    assert not frame.duplicated(["customer_id", "cutoff"]).any()


def test_attribute_only_task_needs_no_events():
    customers = pd.DataFrame(
        {
            "customer_id": pd.array(["a", "b", "c"], dtype="str"),
            "region": pd.array(["north", "south", "north"], dtype="str"),
            "spend": [1.0, 2.5, 0.0],
            "churned": [1, 0, 1],
        }
    )
    task = {
        "name": "attributes",
        "kind": "attributes",
        "label_column": "churned",
        "positive_value": 1,
        "snapshots": {"cutoff": "2024-06-01"},
    }
    table = build_training_table(None, customers, task, {"attributes": True})
    expected = pd.DataFrame(
        {
            "customer_id": pd.array(["a", "b", "c"], dtype="str"),
            "cutoff": pd.Series([pd.Timestamp("2024-06-01")] * 3, dtype="datetime64[us]"),
            "label": pd.array([1, 0, 1], dtype="int64"),
            "region": pd.Categorical(["north", "south", "north"]),
            "spend": [1.0, 2.5, 0.0],
        }
    )
    pdt.assert_frame_equal(table.frame, expected)
    assert table.feature_names == ["region", "spend"]  # the label column is never a feature


def test_scoring_rebuilds_the_same_columns_from_new_events(events):
    spec = resolve_feature_spec({"activity": {"top_k": 3}}, events, None)
    new = events.assign(event=events["event"].where(events.index % 7 != 0, "brand_new_event"))
    snapshots = make_calendar_snapshots(new, cutoffs=["2025-06-01"])
    trained = build_features(events, None, snapshots, spec)
    scored = build_features(new, None, snapshots, spec)
    assert list(scored.columns) == list(trained.columns)
    assert (scored.dtypes == trained.dtypes).all()
    assert resolve_feature_spec(spec, new, None) == spec  # a resolved spec stays frozen
