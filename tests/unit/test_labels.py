"""Labels: eligibility, outcome in [cutoff, cutoff + horizon), censoring, attribute tasks."""

import pandas as pd
import pandas.testing as pdt
import pytest

from behaviorlab.errors import ConfigError, DataValidationError
from behaviorlab.features.labels import (
    default_data_end,
    eligible_snapshots,
    label_from_attributes,
    label_snapshots,
)

CUTOFF = "2024-03-01"
CHURN = {
    "kind": "churn",
    "horizon_days": 30,
    "lookback_days": 30,
    "qualifying_events": None,
    "churn_events": [],
}


def events_of(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    ids, stamps, names = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "customer_id": pd.array(ids, dtype="str"),
            "timestamp": pd.to_datetime(list(stamps), format="ISO8601").astype("datetime64[us]"),
            "event": pd.array(names, dtype="str"),
        }
    )


def snapshots_of(ids: list[str], cutoff: str = CUTOFF) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.array(ids, dtype="str"),
            "cutoff": pd.Series([pd.Timestamp(cutoff)] * len(ids), dtype="datetime64[us]"),
        }
    )


def labelled(pairs: list[tuple[str, int]], cutoff: str = CUTOFF) -> pd.DataFrame:
    ids = [p[0] for p in pairs]
    return snapshots_of(ids, cutoff).assign(label=pd.array([p[1] for p in pairs], dtype="int64"))


def test_churn_eligibility_outcome_and_boundaries():
    events = events_of(
        [
            ("active_stays", "2024-02-20", "login"),
            ("active_stays", "2024-03-30 23:59", "login"),  # last instant inside the horizon
            ("active_leaves", "2024-01-31", "login"),  # exactly cutoff - lookback: eligible
            ("active_leaves", "2024-03-31", "login"),  # exactly cutoff + horizon: outside
            ("dormant", "2024-01-30 23:59", "login"),  # before the lookback: not eligible
            ("dormant", "2024-03-05", "login"),
            ("at_cutoff", "2024-02-29", "login"),
            ("at_cutoff", "2024-03-01", "login"),  # exactly at the cutoff: in the horizon
        ]
    )
    snapshots = snapshots_of(["active_stays", "active_leaves", "dormant", "at_cutoff"])
    got = label_snapshots(events, snapshots, CHURN, data_end="2024-03-31")
    expected = labelled([("active_leaves", 1), ("active_stays", 0), ("at_cutoff", 0)])
    pdt.assert_frame_equal(got, expected)


def test_explicit_churn_event_in_the_horizon_labels_one_and_qualifying_events_filter():
    events = events_of(
        [
            ("cancels", "2024-02-20", "login"),
            ("cancels", "2024-03-10", "login"),
            ("cancels", "2024-03-11", "cancel"),
            ("only_errors", "2024-02-20", "login"),
            ("only_errors", "2024-03-10", "error"),  # not a qualifying event
        ]
    )
    task = {**CHURN, "qualifying_events": ["login", "cancel"], "churn_events": ["cancel"]}
    got = label_snapshots(events, snapshots_of(["cancels", "only_errors"]), task, "2024-03-31")
    pdt.assert_frame_equal(got, labelled([("cancels", 1), ("only_errors", 1)]))


def test_censored_snapshots_are_dropped_not_labelled_zero():
    events = events_of([("a", "2024-02-20", "login")])
    cutoffs = ["2024-03-01", "2024-03-02", "2024-03-03"]
    snapshots = pd.concat([snapshots_of(["a"], c) for c in cutoffs])
    got = label_snapshots(events, snapshots, CHURN, data_end="2024-03-31 17:00")
    # the data covers 2024-03-31 whole; a horizon ending 2024-04-01 (exclusive) fits, one
    # ending 2024-04-02 runs past the data
    want = pd.concat([labelled([("a", 1)], "2024-03-01"), labelled([("a", 1)], "2024-03-02")])
    pdt.assert_frame_equal(got, want.reset_index(drop=True))


def test_conversion_only_for_the_not_yet_converted():
    events = events_of(
        [
            ("converts", "2024-02-01", "login"),
            ("converts", "2024-03-15", "upgrade"),
            ("already", "2024-02-01", "upgrade"),
            ("already", "2024-03-15", "upgrade"),
            ("never", "2024-02-01", "login"),
        ]
    )
    task = {"kind": "conversion", "conversion_events": ["upgrade"], "horizon_days": 30}
    snapshots = snapshots_of(["converts", "already", "never", "no_events"])
    got = label_snapshots(events, snapshots, task, "2024-03-31")
    expected = labelled([("converts", 1), ("never", 0), ("no_events", 0)])
    pdt.assert_frame_equal(got, expected)


def test_repurchase_counts_purchases_in_the_horizon_after_a_prior_purchase():
    events = events_of(
        [
            ("again", "2024-01-01", "purchase"),
            ("again", "2024-03-02", "purchase"),
            ("once", "2024-01-01", "purchase"),
            ("browser", "2024-01-01", "page_view"),
            ("browser", "2024-03-02", "purchase"),
        ]
    )
    task = {"kind": "repurchase", "purchase_events": ["purchase"], "horizon_days": 30}
    snapshots = snapshots_of(["again", "once", "browser"])
    got = label_snapshots(events, snapshots, task, "2024-03-31")
    pdt.assert_frame_equal(got, labelled([("again", 1), ("once", 0)]))
    everyone = label_snapshots(
        events, snapshots, {**task, "require_prior_purchase": False}, "2024-03-31"
    )
    pdt.assert_frame_equal(everyone, labelled([("again", 1), ("browser", 1), ("once", 0)]))


def test_eligible_snapshots_need_no_outcome():
    events = events_of([("a", "2024-02-20", "login"), ("b", "2024-01-01", "login")])
    got = eligible_snapshots(events, snapshots_of(["a", "b"]), CHURN)
    pdt.assert_frame_equal(got, snapshots_of(["a"]))


def test_unknown_task_kind_is_a_config_error():
    with pytest.raises(ConfigError, match=r"task\.kind"):
        label_snapshots(
            events_of([("a", "2024-01-01", "x")]),
            snapshots_of(["a"]),
            {"kind": "ltv", "horizon_days": 1},
            "2025-01-01",
        )


def test_default_data_end_is_the_last_event():
    events = events_of([("a", "2024-01-01", "x"), ("a", "2024-02-03 17:00", "x")])
    assert default_data_end(events) == pd.Timestamp("2024-02-03 17:00")


def test_attribute_labels_compare_with_the_positive_value():
    customers = pd.DataFrame(
        {"customer_id": pd.array(["a", "b", "c"], dtype="str"), "churned": ["yes", "no", None]}
    )
    task = {"kind": "attributes", "label_column": "churned", "positive_value": "yes"}
    got = label_from_attributes(customers, task)
    expected = pd.DataFrame(
        {
            "customer_id": pd.array(["a", "b"], dtype="str"),
            "cutoff": pd.Series([pd.NaT, pd.NaT], dtype="datetime64[us]"),
            "label": pd.array([1, 0], dtype="int64"),
        }
    )
    pdt.assert_frame_equal(got, expected)
    with pytest.raises(DataValidationError, match="label column"):
        label_from_attributes(customers, {**task, "label_column": "missing"})
