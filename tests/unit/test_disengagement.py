"""The disengagement family against hand-computed values, the pandas reference and specs
that predate it.

The log is ``test_feature_families``'s (cutoff 2024-03-01): ``a`` has six events before
the cutoff (gaps 10 min, 470 min, 49.625 days, 20 min, 9 days 820 min), ``b`` one,
``c`` none, ``d`` three with a tie at the newest instant.
"""

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from behaviorlab.errors import ConfigError
from behaviorlab.features.builder import build_features
from behaviorlab.features.families import disengagement
from behaviorlab.features.spec import feature_columns, resolve_feature_spec
from tests.helpers import snapshots_at
from tests.reference_features import random_event_log, reference_features
from tests.unit.test_feature_families import (
    NAN,
    ROWS,
    build,
    events_of,
    expected,
    only,
    snapshots_of,
)

EVERY_PART = {"gaps": True, "purchases": True, "sessions": True}  # off by default


def decayed(ages_days: list[float], half_life: float) -> float:
    return float(sum(0.5 ** (age / half_life) for age in ages_days))


A_AGES = [  # days before the cutoff; purchases at 1, 2 and 5
    59 + 14 / 24,
    59 + 14 / 24 - 10 / 1440,
    59 + 6 / 24,
    9 + 15 / 24,
    9 + 14 / 24 + 40 / 1440,
    1 / 24,
]
D_AGES = [7.0, 5.875, 5.875]


def test_gaps_decay_and_inferred_sessions_by_hand():
    got = build(only("disengagement", **EVERY_PART, half_lives=[7], gap_minutes=30))
    # a's sessions start 59 + 14/24, 59.25, 9 + 15/24 and 1/24 days ago: gaps of 8 hours,
    # 49.625 days and 9 days 14 hours; d's two start 7 and 5.875 days ago (its tie at the
    # newest instant is inside the second session)
    a_gaps = [8 / 24, 49.625, 9 + 14 / 24]
    want = expected(
        {
            "days_since_last_event": [1 / 24, 7.5, NAN, 5.875],
            "session_gap_median_days": [a_gaps[2], NAN, NAN, 1.125],
            "session_gap_last_days": [a_gaps[2], NAN, NAN, 1.125],
            "session_gap_max_days": [49.625, NAN, NAN, 1.125],
            "silence_in_session_gaps": [(1 / 24) / a_gaps[2], NAN, NAN, 5.875 / 1.125],
            "decayed_events_hl7d": [decayed(A_AGES, 7), 0.5 ** (7.5 / 7), 0, decayed(D_AGES, 7)],
            "decayed_purchases_hl7d": [decayed([A_AGES[i] for i in (1, 2, 5)], 7), 0, 0, 0],
            "days_since_session_start": [1 / 24, 7.5, NAN, 5.875],
            # d's first session started exactly 7 days ago (inside the window)
            "session_count_7d": [1, 0, 0, 2],
            "session_count_30d": [2, 1, 0, 2],
        }
    )
    pdt.assert_frame_equal(got, want, rtol=1e-12)


def test_session_gaps_from_ids_count_starts_at_one_instant_as_a_gap_of_0():
    rows = [
        ("a", "2024-02-01 10:00", "x", NAN),
        ("a", "2024-02-11 10:00", "x", NAN),
        ("a", "2024-02-11 10:00", "x", NAN),  # a second session starting at the same instant
        ("a", "2024-02-12 08:00", "x", NAN),  # inside s2
        ("a", "2024-02-29 10:00", "x", NAN),
    ]
    sessions = pd.array(["s1", "s2", "s3", "s2", "s4"], dtype="str")
    events = events_of(rows).assign(session_id=sessions)
    spec = only("disengagement", gaps=True, half_lives=[])
    resolved = resolve_feature_spec(spec, events, None)
    assert resolved["disengagement"]["session_source"] == "session_id"
    got = build_features(events, None, snapshots_of(["a"]), resolved)
    want = expected(
        {
            "days_since_last_event": [14 / 24],
            "session_gap_median_days": [10.0],  # gaps 10, 0 and 18 days
            "session_gap_last_days": [18.0],
            "session_gap_max_days": [18.0],
            "silence_in_session_gaps": [(14 / 24) / 10.0],
        },
        ids=["a"],
    )
    pdt.assert_frame_equal(got, want, rtol=1e-12)


def test_sessions_from_ids_start_at_their_first_event():
    rows = [
        ("a", "2024-02-01 10:00", "x", NAN),
        ("a", "2024-02-20 11:00", "x", NAN),
        ("a", "2024-02-22 12:00", "x", NAN),  # s2 started on the 20th
        ("a", "2024-02-29 18:00", "x", NAN),
        ("a", "2024-03-01 00:10", "x", NAN),  # s3, after the cutoff: not seen
    ]
    sessions = pd.array(["s1", "s2", "s2", "s3", "s3"], dtype="str")
    events = events_of(rows).assign(session_id=sessions)
    spec = only("disengagement", sessions=True, half_lives=[], session_windows=[7, 30])
    resolved = resolve_feature_spec(spec, events, None)
    assert resolved["disengagement"]["session_source"] == "session_id"
    got = build_features(events, None, snapshots_of(["a"]), resolved)
    want = expected(
        {
            "days_since_last_event": [0.25],
            "days_since_session_start": [0.25],
            "session_count_7d": [1],
            "session_count_30d": [3],  # s2 started 9.54 days ago, s1 28.58 days ago
        },
        ids=["a"],
    )
    pdt.assert_frame_equal(got, want)


def test_by_default_only_recency_and_decayed_event_counts():
    spec = only("disengagement", half_lives=[30])
    resolved = resolve_feature_spec(spec, events_of(ROWS), None)
    assert feature_columns(resolved) == ["days_since_last_event", "decayed_events_hl30d"]
    got = build(spec)
    assert got.columns[2:].tolist() == ["days_since_last_event", "decayed_events_hl30d"]
    assert got["decayed_events_hl30d"].tolist()[2] == 0.0  # c: no event, a count of 0


def test_half_lives_must_be_positive_days():
    with pytest.raises(ConfigError, match="half_lives"):
        resolve_feature_spec(only("disengagement", half_lives=[0, 7]), events_of(ROWS), None)


def test_a_spec_that_predates_the_family_builds_without_it():
    """A model registered before the family carries a resolved spec without it."""
    resolved = resolve_feature_spec(only("rfm"), events_of(ROWS), None)
    del resolved["disengagement"]
    got = build_features(events_of(ROWS), None, snapshots_of(["a", "b"]), resolved)
    assert got.columns[2:].tolist() == feature_columns(resolved)
    assert "days_since_last_event" not in got.columns


def test_a_spec_with_the_old_gaps_between_events_is_refused_by_name():
    """Before the session rhythm, ``gaps`` alone resolved no session source."""
    resolved = resolve_feature_spec(only("disengagement", gaps=True), events_of(ROWS), None)
    del resolved["disengagement"]["session_source"]
    with pytest.raises(ConfigError, match=r"predates the session rhythm.*retrain"):
        build_features(events_of(ROWS), None, snapshots_of(["a"]), resolved)


def test_session_ids_at_several_cutoffs_equal_the_pandas_reference():
    events = random_event_log(n_customers=50, n_events=3000, seed=5)
    hour = events["timestamp"].dt.floor("6h").astype("str")
    events["session_id"] = pd.array(events["customer_id"] + "@" + hour, dtype="str")
    snapshots = snapshots_at(events, "2024-03-01", "2024-06-15 12:00", "2024-11-30 06:00")
    resolved = resolve_feature_spec({"disengagement": EVERY_PART}, events, None)
    assert resolved["disengagement"]["session_source"] == "session_id"
    got = build_features(events, None, snapshots, resolved)
    want = reference_features(events, snapshots, resolved)
    columns = ["customer_id", "cutoff", *disengagement.columns(resolved["disengagement"])]
    assert np.isfinite(got["silence_in_session_gaps"]).sum() > 50
    assert got["session_count_30d"].gt(0).sum() > 20
    order = ["customer_id", "cutoff"]
    want = want[columns].sort_values(order, ignore_index=True)
    pdt.assert_frame_equal(got[columns].sort_values(order, ignore_index=True), want, rtol=1e-9)
