"""Every family against hand-computed values on tiny logs.

Cutoff 2024-03-01 00:00. Customers: ``a`` (same-day purchases, an event exactly at the
cutoff and one after it), ``b`` (a single event), ``c`` (no event before the cutoff), ``d``
(an event exactly at the 7-day window start and two tied events on a Saturday night).
"""

import math

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from behaviorlab.errors import ConfigError
from behaviorlab.features.builder import build_features
from behaviorlab.features.spec import FAMILIES, feature_columns, resolve_feature_spec
from tests.helpers import snapshots_at
from tests.reference_features import random_event_log, reference_features

CUTOFF = pd.Timestamp("2024-03-01")
NAN = float("nan")
ROWS = [
    ("a", "2024-01-01 10:00", "page_view", NAN),
    ("a", "2024-01-01 10:10", "purchase", 10.0),
    ("a", "2024-01-01 18:00", "purchase", 20.0),
    ("a", "2024-02-20 09:00", "product_view", NAN),
    ("a", "2024-02-20 09:20", "add_to_cart", NAN),
    ("a", "2024-02-29 23:00", "purchase", 30.0),
    ("a", "2024-03-01 00:00", "purchase", 99.0),  # exactly at the cutoff: not seen
    ("a", "2024-03-05 12:00", "support_contact", NAN),  # after the cutoff: not seen
    ("b", "2024-02-22 12:00", "support_contact", NAN),
    ("c", "2024-03-02 08:00", "purchase", 5.0),
    ("d", "2024-02-23 00:00", "login", NAN),  # exactly cutoff - 7 days: inside 7d
    ("d", "2024-02-24 03:00", "login", NAN),
    ("d", "2024-02-24 03:00", "login", NAN),  # a tie
]
IDS = ["a", "b", "c", "d"]


def events_of(rows) -> pd.DataFrame:
    ids, stamps, names, amounts = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "customer_id": pd.array(ids, dtype="str"),
            "timestamp": pd.to_datetime(list(stamps), format="ISO8601").astype("datetime64[us]"),
            "event": pd.array(names, dtype="str"),
            "amount": np.array(amounts, dtype="float64"),
        }
    )


def snapshots_of(ids) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.array(ids, dtype="str"),
            "cutoff": pd.Series([CUTOFF] * len(ids), dtype="datetime64[us]"),
        }
    )


def only(family: str, **params) -> dict:
    """A spec with one family on (with params) and every other family off."""
    spec = dict.fromkeys(FAMILIES, False)
    spec[family] = params or True
    return spec


def build(spec: dict, rows=ROWS, ids=IDS, customers=None) -> pd.DataFrame:
    events = events_of(rows)
    resolved = resolve_feature_spec(spec, events, customers)
    return build_features(events, customers, snapshots_of(ids), resolved)


def expected(columns: dict, ids=IDS) -> pd.DataFrame:
    frame = snapshots_of(ids)
    for name, values in columns.items():
        frame[name] = np.array(values, dtype="float64")
    return frame


def test_rfm_counts_same_day_purchases_once():
    got = build(only("rfm"))
    want = expected(
        {
            "recency_days": [1.0, NAN, NAN, NAN],
            "frequency": [1.0, NAN, NAN, NAN],
            "bgnbd_recency_days": [59.0, NAN, NAN, NAN],
            "t_days": [60.0, NAN, NAN, NAN],
            "tenure_days": [59 + 14 / 24, 7.5, NAN, 7.0],
            "purchase_days": [2.0, 0.0, 0.0, 0.0],
            "monetary_total": [60.0, 0.0, 0.0, 0.0],
            "monetary_mean": [20.0, NAN, NAN, NAN],
            "monetary_max": [30.0, NAN, NAN, NAN],
        }
    )
    pdt.assert_frame_equal(got, want)


def test_rfm_bgnbd_inputs_follow_lifetimes_conventions():
    """T runs from the first purchase day to the day before the cutoff; the repeat spend
    sums each repeat day's purchases and leaves out the first day."""
    rows = [
        *ROWS,
        ("e", "2024-02-10 09:00", "purchase", 5.0),  # a single purchase day: repeat spend 0
        ("e", "2024-02-10 21:00", "purchase", 7.0),
    ]
    got = build(only("rfm", bgnbd=True), rows=rows, ids=["a", "b", "e"])
    assert got.columns[-2:].tolist() == ["bgnbd_t_days", "monetary_repeat_mean"]
    want = expected(
        {"bgnbd_t_days": [59.0, NAN, 19.0], "monetary_repeat_mean": [30.0, NAN, 0.0]},
        ids=["a", "b", "e"],
    )
    pdt.assert_frame_equal(got[want.columns], want)


def test_rfm_bgnbd_t_counts_the_cutoff_day_for_a_cutoff_within_a_day():
    rows = [
        ("a", "2024-02-28 10:00", "purchase", 4.0),
        ("a", "2024-03-01 08:00", "purchase", 6.0),
        ("a", "2024-03-01 09:00", "purchase", 1.0),
        ("a", "2024-03-01 13:00", "purchase", 50.0),  # after the cutoff: not seen
    ]
    events = events_of(rows)
    resolved = resolve_feature_spec(only("rfm", bgnbd=True), events, None)
    snapshots = snapshots_of(["a"]).assign(cutoff=CUTOFF + pd.Timedelta(hours=12))
    got = build_features(events, None, snapshots, resolved).iloc[0]
    assert (got["t_days"], got["bgnbd_t_days"]) == (2.5, 2.0)
    assert (got["frequency"], got["monetary_repeat_mean"]) == (1.0, 7.0)


def test_rfm_bgnbd_inputs_equal_the_pandas_reference_at_several_cutoffs():
    events = random_event_log(n_customers=60, n_events=3000, seed=11)
    snapshots = snapshots_at(events, "2024-03-01", "2024-06-15 12:00", "2024-11-30 06:00")
    resolved = resolve_feature_spec(only("rfm", bgnbd=True), events, None)
    got = build_features(events, None, snapshots, resolved)
    want = reference_features(events, snapshots, resolved)
    columns = ["customer_id", "cutoff", "bgnbd_t_days", "monetary_repeat_mean"]
    assert got["monetary_repeat_mean"].gt(0).sum() > 10  # repeat buyers are exercised
    order = ["customer_id", "cutoff"]
    got = got[columns].sort_values(order, ignore_index=True)
    pdt.assert_frame_equal(got, want[columns].sort_values(order, ignore_index=True), rtol=1e-9)


def test_rfm_without_amounts_has_no_monetary_columns():
    rows = [(c, t, e, NAN) for c, t, e, _ in ROWS]
    events = events_of(rows).drop(columns="amount")
    resolved = resolve_feature_spec(only("rfm"), events, None)
    got = build_features(events, None, snapshots_of(["a"]), resolved)
    assert "monetary_total" not in got.columns
    assert got["frequency"].tolist() == [1.0]


def test_activity_windows_include_their_start_and_exclude_the_cutoff():
    got = build(only("activity", event_types=["purchase", "login"], windows=[7, 30]))
    want = expected(
        {
            "count_events_7d": [1, 0, 0, 3],
            "active_days_7d": [1, 0, 0, 2],
            "count_purchase_7d": [1, 0, 0, 0],
            "count_login_7d": [0, 0, 0, 3],
            "count_events_30d": [3, 1, 0, 3],
            "active_days_30d": [2, 1, 0, 2],
            "count_purchase_30d": [1, 0, 0, 0],
            "count_login_30d": [0, 0, 0, 3],
        }
    )
    pdt.assert_frame_equal(got, want)


def test_top_k_event_types_are_frozen_by_volume_then_name():
    resolved = resolve_feature_spec(only("activity", top_k=2), events_of(ROWS), None)
    assert resolved["activity"]["event_types"] == ["purchase", "login"]  # 5 and 3 events


def test_trends_compare_windows_and_fit_a_weekly_slope():
    got = build(only("trends", windows=[7], slope_weeks=2))
    want = expected(
        {
            "trend_diff_7d": [-1, -1, 0, 3],
            "trend_ratio_7d": [0.5, 0.0, NAN, NAN],  # undefined without a previous window
            "activity_slope_2w": [-1.0, -1.0, 0.0, 3.0],
        }
    )
    pdt.assert_frame_equal(got, want)


def test_timing_gaps_key_events_and_shares():
    got = build(only("timing", key_events=["purchase", "support_contact"]))
    a_gaps = np.array([10 / 1440, 470 / 1440, 49.625, 20 / 1440, 9 + 820 / 1440])
    d_gaps = np.array([1.125, 0.0])
    want = expected(
        {
            "gap_mean_days": [a_gaps.mean(), NAN, NAN, d_gaps.mean()],
            "gap_std_days": [a_gaps.std(ddof=1), NAN, NAN, d_gaps.std(ddof=1)],
            "gap_max_days": [49.625, NAN, NAN, 1.125],
            "purchase_gap_mean_days": [59.0, NAN, NAN, NAN],
            "purchase_gap_std_days": [NAN, NAN, NAN, NAN],  # one gap: no sample std
            "purchase_gap_max_days": [59.0, NAN, NAN, NAN],
            "days_since_purchase": [1 / 24, NAN, NAN, NAN],
            "days_since_support_contact": [NAN, 7.5, NAN, NAN],
            "share_night": [0.0, 0.0, NAN, 1.0],
            "share_morning": [4 / 6, 0.0, NAN, 0.0],
            "share_afternoon": [0.0, 1.0, NAN, 0.0],
            "share_evening": [2 / 6, 0.0, NAN, 0.0],
            "share_weekend": [0.0, 0.0, NAN, 2 / 3],  # 2024-02-24 is a Saturday
        }
    )
    pdt.assert_frame_equal(got, want)


def test_sessions_inferred_from_a_30_minute_gap():
    got = build(only("sessions", gap_minutes=30))
    want = expected(
        {
            "session_count": [4, 1, 0, 2],
            "session_duration_mean_min": [7.5, 0.0, NAN, 0.0],
            "events_per_session": [1.5, 1.0, NAN, 1.5],
        }
    )
    pdt.assert_frame_equal(got, want)


def test_a_gap_of_exactly_the_threshold_stays_in_the_session():
    rows = [("a", "2024-02-01 10:00", "x", NAN), ("a", "2024-02-01 10:30", "x", NAN)]
    got = build(only("sessions"), rows=rows, ids=["a"])
    assert got["session_count"].tolist() == [1.0]
    assert got["session_duration_mean_min"].tolist() == [30.0]


def test_sessions_from_session_ids_when_the_log_has_them():
    events = events_of(
        [
            ("a", "2024-02-01 10:00", "x", NAN),
            ("a", "2024-02-01 11:00", "x", NAN),
            ("a", "2024-02-01 11:00", "x", NAN),
            ("a", "2024-02-29 23:50", "x", NAN),
            ("a", "2024-03-01 00:10", "x", NAN),  # same session, after the cutoff: cut off
        ]
    ).assign(session_id=pd.array(["s1", "s1", "s2", "s3", "s3"], dtype="str"))
    resolved = resolve_feature_spec(only("sessions"), events, None)
    assert resolved["sessions"]["source"] == "session_id"
    got = build_features(events, None, snapshots_of(["a"]), resolved)
    want = expected(
        {"session_count": [3], "session_duration_mean_min": [20.0], "events_per_session": [4 / 3]},
        ids=["a"],
    )
    pdt.assert_frame_equal(got, want)


def test_diversity_counts_types_and_entropy_of_the_mix():
    got = build(only("diversity"))
    a_entropy = -(0.5 * math.log(0.5) + 3 * (1 / 6) * math.log(1 / 6))
    want = expected(
        {"distinct_event_types": [4, 1, 0, 1], "event_entropy": [a_entropy, 0.0, NAN, 0.0]}
    )
    pdt.assert_frame_equal(got, want)


def test_funnel_depth_is_the_furthest_step_in_each_window():
    rows = [
        ("e", "2024-01-15 12:00", "checkout", NAN),
        ("e", "2024-02-27 08:00", "product_view", NAN),
        ("e", "2024-02-27 08:05", "add_to_cart", NAN),
        ("f", "2024-02-28 08:00", "login", NAN),
        ("f", "2024-03-01 00:00", "purchase", NAN),  # at the cutoff: not seen
    ]
    got = build(only("funnel", windows=[7, 60]), rows=rows, ids=["e", "f"])
    want = expected({"funnel_depth_7d": [2, 0], "funnel_depth_60d": [3, 0]}, ids=["e", "f"])
    pdt.assert_frame_equal(got, want)


def test_attributes_keep_frozen_categories_and_days_since_signup():
    customers = pd.DataFrame(
        {
            "customer_id": pd.array(["a", "b", "c"], dtype="str"),
            "signup_at": pd.to_datetime(
                ["2024-02-01", "2024-02-15 12:00", None], format="ISO8601"
            ).astype("datetime64[us]"),
            "plan": pd.array(["pro", "free", None], dtype="str"),
            "seats": [3, 1, 2],
        }
    )
    events = events_of(ROWS)
    resolved = resolve_feature_spec(only("attributes"), events, customers)
    scoring_customers = customers.assign(plan=pd.array(["pro", "enterprise", "free"], dtype="str"))
    got = build_features(events, scoring_customers, snapshots_of(["a", "b", "c", "d"]), resolved)
    want = expected({"seats": [3, 1, 2, NAN]})
    want.insert(2, "plan", pd.Categorical(["pro", None, "free", None], categories=["free", "pro"]))
    want["days_since_signup"] = [29.0, 14.5, NAN, NAN]
    pdt.assert_frame_equal(got, want)


def test_feature_columns_follow_the_builder_order_and_reject_duplicates():
    resolved = resolve_feature_spec({}, events_of(ROWS), None)
    got = build_features(events_of(ROWS), None, snapshots_of(IDS), resolved)
    assert list(got.columns) == ["customer_id", "cutoff", *feature_columns(resolved)]
    assert (got.dtypes.iloc[2:] == "float64").all()
    with pytest.raises(ConfigError, match="duplicate"):
        resolve_feature_spec(
            {"activity": {"event_types": ["Add to cart", "add_to_cart"]}}, events_of(ROWS), None
        )


def test_unresolved_specs_are_refused():
    with pytest.raises(ConfigError, match="resolve_feature_spec"):
        build_features(events_of(ROWS), None, snapshots_of(IDS), {"rfm": True})
