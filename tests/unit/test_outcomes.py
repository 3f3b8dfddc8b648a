"""Point-in-time outcomes of assigned customers on a hand-built event log."""

import ibis
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from behaviorlab.analysis.outcomes import measure_outcomes
from behaviorlab.errors import ConfigError, DataValidationError

ASSIGNED = pd.Timestamp("2024-03-01")


def log(rows):
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "event", "amount"])
    return frame.assign(timestamp=pd.to_datetime(frame["timestamp"]).astype("datetime64[us]"))


@pytest.fixture
def events():
    return log(
        [
            ("a", "2024-02-21 00:00", "page_view", None),  # first instant of the pre-period
            ("a", "2024-03-05 10:00", "purchase", 20.0),
            ("a", "2024-03-09 23:59", "upgrade", None),  # last minute of the window
            ("a", "2024-03-10 00:00", "purchase", 500.0),  # window end: excluded
            ("b", "2024-02-29 23:00", "purchase", 7.0),  # pre-period only
            ("b", "2024-02-19 23:00", "purchase", 99.0),  # before the pre-period: excluded
            ("c", "2024-03-01 00:00", "page_view", None),  # at assignment: counts as outcome
            ("d", "2024-03-02 00:00", "upgrade", None),  # never assigned
        ]
    )


@pytest.fixture
def assignments():
    return pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "group": ["treatment", "control", "control"],
            "assigned_at": pd.Series([ASSIGNED] * 3, dtype="datetime64[us]"),
        }
    )


def expected(outcome, pre, dtype):
    return pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "group": ["treatment", "control", "control"],
            "outcome": pd.Series(outcome, dtype=dtype),
            "pre_outcome": pd.Series(pre, dtype=dtype),
            "pre_active_days": [1, 1, 0],  # a on Feb 21, b on Feb 29 (Feb 19 is too early)
        }
    )


@pytest.mark.parametrize(
    ("kind", "names", "outcome", "pre", "dtype"),
    [
        ("retention", None, [1, 0, 1], [1, 1, 0], "int32"),
        ("churn", None, [0, 1, 0], [0, 0, 1], "int32"),
        ("conversion", ["upgrade"], [1, 0, 0], [0, 0, 0], "int32"),
        ("revenue", None, [20.0, 0.0, 0.0], [0.0, 7.0, 0.0], "float64"),
        ("revenue", ["upgrade"], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], "float64"),
    ],
)
def test_outcomes_count_only_the_windows(events, assignments, kind, names, outcome, pre, dtype):
    frame = measure_outcomes(events, assignments, kind, 9, names)
    assert_frame_equal(
        frame.drop(columns="assigned_at"),
        expected(outcome, pre, dtype),
        check_dtype=False,
    )
    assert frame["outcome"].dtype.kind == expected(outcome, pre, dtype)["outcome"].dtype.kind


def test_lazy_events_give_the_same_outcomes(events, assignments):
    lazy = ibis.duckdb.connect().create_table("events", events)
    assert_frame_equal(
        measure_outcomes(lazy, assignments, "retention", 9),
        measure_outcomes(events, assignments, "retention", 9),
    )


def test_later_events_do_not_change_outcomes(events, assignments):
    later = log(
        [("b", "2024-03-10 00:00", "upgrade", None), ("c", "2024-06-01 00:00", "purchase", 5.0)]
    )
    before = measure_outcomes(events, assignments, "conversion", 9, ["upgrade"])
    after = measure_outcomes(pd.concat([events, later]), assignments, "conversion", 9, ["upgrade"])
    assert_frame_equal(before, after)


def test_bad_outcome_settings_are_refused(events, assignments):
    with pytest.raises(ConfigError, match=r"outcome\.kind"):
        measure_outcomes(events, assignments, "clicks", 9)
    with pytest.raises(ConfigError, match=r"outcome\.events"):
        measure_outcomes(events, assignments, "conversion", 9)
    with pytest.raises(DataValidationError, match="amount"):
        measure_outcomes(events.drop(columns="amount"), assignments, "revenue", 9)
    with pytest.raises(DataValidationError, match="ends after the data"):
        measure_outcomes(events, assignments, "retention", 30, data_end=pd.Timestamp("2024-03-10"))
