"""Scoring snapshots follow the task: calendar cutoffs, or each customer's own relative one."""

import pandas as pd
import pandas.testing as pdt
import pytest

from behaviorlab.errors import ConfigError
from behaviorlab.scoring.batch import scoring_snapshots

CONVERSION = {
    "name": "conversion",
    "kind": "conversion",
    "conversion_events": ["upgrade"],
    "horizon_days": 30,
    "snapshots": {"kind": "relative", "days_after_signup": 14},
}
CHURN = {
    "name": "churn",
    "kind": "churn",
    "horizon_days": 30,
    "lookback_days": 30,
    "qualifying_events": None,
    "churn_events": [],
    "snapshots": {"kind": "calendar"},
}


def frame_of(rows: list[tuple], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    frame["customer_id"] = frame["customer_id"].astype("str")
    for column in ("timestamp", "signup_at", "cutoff"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
    return frame


EVENTS = frame_of(
    [
        ("a", "2024-01-02", "visit"),  # signed up long ago: snapshot is history
        ("b", "2024-05-20", "visit"),  # snapshot 2024-06-15, inside the window
        ("c", "2024-05-25", "upgrade"),  # converted before its snapshot: not eligible
        ("d", "2024-06-20", "visit"),  # snapshot after the cutoff: not due yet
        ("e", "2024-06-05", "visit"),  # snapshot 2024-06-29, inside the window
    ],
    ["customer_id", "timestamp", "event"],
)
CUSTOMERS = frame_of(
    [
        ("a", "2024-01-01"),
        ("b", "2024-06-01"),
        ("c", "2024-05-20"),
        ("d", "2024-06-19"),
        ("e", "2024-06-15"),
    ],
    ["customer_id", "signup_at"],
)


def test_relative_task_scores_each_due_customer_at_its_own_snapshot():
    scored = scoring_snapshots(EVENTS, CUSTOMERS, CONVERSION, "2024-07-01")
    expected = frame_of(
        [("b", "2024-06-15"), ("e", "2024-06-29")],
        ["customer_id", "cutoff"],
    )
    pdt.assert_frame_equal(scored, expected)


def test_relative_window_widens_to_older_snapshots():
    scored = scoring_snapshots(EVENTS, CUSTOMERS, CONVERSION, "2024-07-01", window_days=365)
    assert scored["customer_id"].tolist() == ["a", "b", "e"]


def test_calendar_task_scores_everyone_active_at_the_cutoff():
    scored = scoring_snapshots(EVENTS, None, CHURN, "2024-06-10")
    assert scored["customer_id"].tolist() == ["b", "c", "e"]
    assert (scored["cutoff"] == pd.Timestamp("2024-06-10")).all()


def test_relative_window_must_be_positive():
    with pytest.raises(ConfigError, match="window_days"):
        scoring_snapshots(EVENTS, CUSTOMERS, CONVERSION, "2024-07-01", window_days=0)
