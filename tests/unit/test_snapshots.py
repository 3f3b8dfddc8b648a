"""Snapshot tables: calendar grids, explicit dates and signup-relative cutoffs."""

import pandas as pd
import pandas.testing as pdt
import pytest

from behaviorlab.errors import ConfigError, DataValidationError
from behaviorlab.features.snapshots import (
    make_calendar_snapshots,
    make_cutoff_grid,
    make_relative_snapshots,
    make_snapshots,
)


def events_of(rows: list[tuple[str, str]]) -> pd.DataFrame:
    """A canonical event frame from (customer_id, timestamp) pairs."""
    ids, stamps = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "customer_id": pd.array(ids, dtype="str"),
            "timestamp": pd.to_datetime(list(stamps), format="ISO8601").astype("datetime64[us]"),
            "event": pd.array(["x"] * len(rows), dtype="str"),
        }
    )


def snapshots_of(rows: list[tuple[str, str]]) -> pd.DataFrame:
    ids, cutoffs = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "customer_id": pd.array(ids, dtype="str"),
            "cutoff": pd.to_datetime(list(cutoffs), format="ISO8601").astype("datetime64[us]"),
        }
    )


def test_grid_includes_end_and_steps_back_while_not_before_start():
    grid = make_cutoff_grid("2024-01-01", "2024-03-01", 28)
    assert grid == [
        pd.Timestamp("2024-01-05"),
        pd.Timestamp("2024-02-02"),
        pd.Timestamp("2024-03-01"),
    ]


def test_grid_keeps_start_when_it_falls_on_a_step():
    assert make_cutoff_grid("2024-02-02", "2024-03-01", 28)[0] == pd.Timestamp("2024-02-02")


def test_grid_rejects_a_non_positive_step():
    with pytest.raises(ConfigError, match="every_days"):
        make_cutoff_grid("2024-01-01", "2024-03-01", 0)


def test_customer_gets_a_snapshot_only_after_its_first_event():
    events = events_of(
        [("a", "2024-01-10"), ("b", "2024-02-02"), ("b", "2024-02-20"), ("c", "2024-03-05")]
    )
    got = make_calendar_snapshots(events, start="2024-01-01", end="2024-03-01", every_days=28)
    expected = snapshots_of(
        [
            ("a", "2024-02-02"),
            ("a", "2024-03-01"),
            ("b", "2024-03-01"),  # its first event is exactly at 2024-02-02: not before it
        ]
    )
    pdt.assert_frame_equal(got, expected)


def test_explicit_cutoffs_win_over_the_grid():
    events = events_of([("a", "2024-01-10")])
    got = make_calendar_snapshots(
        events,
        cutoffs=["2024-02-01", "2024-01-15"],
        start="2023-01-01",
        end="2024-12-01",
        every_days=7,
    )
    pdt.assert_frame_equal(got, snapshots_of([("a", "2024-01-15"), ("a", "2024-02-01")]))


def test_relative_snapshots_are_signup_plus_n_days_and_skip_unknown_signups():
    customers = pd.DataFrame(
        {
            "customer_id": pd.array(["a", "b", "c"], dtype="str"),
            "signup_at": pd.to_datetime(
                ["2024-01-01 08:00", None, "2024-01-03"], format="ISO8601"
            ).astype("datetime64[us]"),
        }
    )
    got = make_relative_snapshots(customers, 14)
    pdt.assert_frame_equal(got, snapshots_of([("a", "2024-01-15 08:00"), ("c", "2024-01-17")]))


def test_relative_snapshots_take_one_row_per_customer_of_a_timed_table():
    customers = pd.DataFrame(
        {
            "customer_id": pd.array(["a", "a", "b"], dtype="str"),
            "signup_at": pd.to_datetime(
                ["2024-01-01", "2024-01-01", "2024-01-05"], format="ISO8601"
            ).astype("datetime64[us]"),
            "valid_from": pd.to_datetime(
                ["2024-01-01", "2024-03-01", "2024-01-05"], format="ISO8601"
            ).astype("datetime64[us]"),
        }
    )
    got = make_relative_snapshots(customers, 14)
    pdt.assert_frame_equal(got, snapshots_of([("a", "2024-01-15"), ("b", "2024-01-19")]))


def test_relative_snapshots_need_a_signup_column():
    with pytest.raises(DataValidationError, match="signup_at"):
        make_relative_snapshots(pd.DataFrame({"customer_id": ["a"]}), 14)


def test_make_snapshots_dispatches_on_kind():
    events = events_of([("a", "2024-01-10")])
    got = make_snapshots(events, None, {"kind": "calendar", "cutoffs": ["2024-02-01"]})
    pdt.assert_frame_equal(got, snapshots_of([("a", "2024-02-01")]))
    with pytest.raises(ConfigError, match="kind"):
        make_snapshots(events, None, {"kind": "weekly"})
