"""Point-in-time properties over random logs and cutoffs.

Features: adding, removing or changing events at or after the cutoff never changes that
cutoff's features (the clv family's models included, fitted on each cutoff's history);
through the training table (which resolves its own spec), events at or after a training
cutoff change neither the features that exist nor any value at that cutoff or before.
Labels: events outside [cutoff, cutoff + horizon) never change a label.
"""

import numpy as np
import pandas as pd
import pandas.testing as pdt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from behaviorlab.data.sources import load_customers
from behaviorlab.features.builder import build_features, build_training_table
from behaviorlab.features.labels import label_snapshots
from behaviorlab.features.spec import resolve_feature_spec

START = pd.Timestamp("2024-01-01")
DAYS = 60
IDS = ["a", "b", "c"]
VOCAB = ["page_view", "product_view", "add_to_cart", "checkout", "purchase", "support_contact"]
HORIZON = 10
SETTINGS = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])

event_rows = st.tuples(
    st.sampled_from(IDS),
    st.integers(0, DAYS * 1440 - 1),  # minute of the period
    st.sampled_from(VOCAB),
    st.floats(0, 500, allow_nan=False),
)


def frame_of(rows: list[tuple]) -> pd.DataFrame:
    ids, minutes, names, amounts = zip(*rows, strict=True) if rows else ([], [], [], [])
    stamps = START + pd.to_timedelta(np.array(minutes, dtype="int64"), unit="min")
    return pd.DataFrame(
        {
            "customer_id": pd.array(list(ids), dtype="str"),
            "timestamp": pd.Series(stamps, dtype="datetime64[us]"),
            "event": pd.array(list(names), dtype="str"),
            "amount": np.array(amounts, dtype="float64"),
        }
    )


def snapshots_at(cutoff: pd.Timestamp) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.array(IDS, dtype="str"),
            "cutoff": pd.Series([cutoff] * len(IDS), dtype="datetime64[us]"),
        }
    )


CLV = {"enabled": True, "min_customers": 2}  # fitted per cutoff on its own three customers
DISENGAGEMENT = {"gaps": True, "purchases": True, "sessions": True}  # every part
DISENGAGEMENT |= {"half_lives": [1, 7], "session_windows": [1, 7]}  # windows the log fills
SPEC = {
    "windows": [1, 7, 30],
    "rfm": {"bgnbd": True},
    "clv": CLV,
    "activity": {"event_types": VOCAB},
    "trends": {"windows": [1, 7], "slope_weeks": 4},
    "funnel": {"windows": [1, 30]},
    "disengagement": DISENGAGEMENT,
}


@SETTINGS
@given(
    past=st.lists(event_rows, min_size=1, max_size=40),
    future=st.lists(event_rows, max_size=20),
    added=st.lists(event_rows, max_size=10),
    cutoff_minute=st.integers(1440, DAYS * 1440),
    change=st.sampled_from(VOCAB),
    data=st.data(),
)
def test_events_at_or_after_the_cutoff_never_change_features(
    past, future, added, cutoff_minute, change, data
):
    cutoff = START + pd.Timedelta(minutes=cutoff_minute)
    late = lambda rows: [r for r in rows if r[1] >= cutoff_minute]  # noqa: E731
    early = [r for r in past if r[1] < cutoff_minute]
    original = frame_of(early + late(future))
    kept = data.draw(
        st.lists(st.booleans(), min_size=len(late(future)), max_size=len(late(future)))
    )
    changed = [
        (c, m, change, a * 2) if keep else (c, m, n, a)
        for (c, m, n, a), keep in zip(late(future), kept, strict=True)
    ]
    modified = frame_of(early + [r for r, k in zip(changed, kept, strict=True) if k] + late(added))
    at_cutoff = [(i, cutoff_minute, "purchase", 1.0) for i in IDS]
    modified = pd.concat([modified, frame_of(at_cutoff)], ignore_index=True)
    spec = resolve_feature_spec(SPEC, original, None)
    before = build_features(original, None, snapshots_at(cutoff), spec)
    after = build_features(
        modified.sample(frac=1, random_state=0), None, snapshots_at(cutoff), spec
    )
    pdt.assert_frame_equal(before, after)


@SETTINGS
@given(
    rows=st.lists(event_rows, min_size=1, max_size=40),
    noise=st.lists(event_rows, max_size=20),
    cutoff_day=st.integers(5, DAYS - HORIZON - 1),
    kind=st.sampled_from(["churn", "conversion", "repurchase"]),
)
def test_events_outside_the_horizon_never_change_a_label(rows, noise, cutoff_day, kind):
    cutoff = START + pd.Timedelta(days=cutoff_day)
    lo, hi = cutoff_day * 1440, (cutoff_day + HORIZON) * 1440
    task = {
        "kind": kind,
        "horizon_days": HORIZON,
        "lookback_days": 14,
        "qualifying_events": ["page_view", "purchase"],
        "churn_events": ["support_contact"],
        "conversion_events": ["checkout"],
        "purchase_events": ["purchase"],
    }
    data_end = START + pd.Timedelta(days=DAYS)
    base = label_snapshots(frame_of(rows), snapshots_at(cutoff), task, data_end)
    outside = [r for r in noise if not lo <= r[1] < hi]
    noisy = label_snapshots(frame_of(rows + outside), snapshots_at(cutoff), task, data_end)
    both = base.merge(noisy, on=["customer_id", "cutoff"], suffixes=("", "_noisy"))
    assert (both["label"] == both["label_noisy"]).all()
    after_horizon = [r for r in noise if r[1] >= hi]
    late = label_snapshots(frame_of(rows + after_horizon), snapshots_at(cutoff), task, data_end)
    pdt.assert_frame_equal(base, late)  # nothing after the horizon matters, not even eligibility


TRAIN_DAYS = (20, 30, 40)
TRAIN_TASK = {
    "name": "churn",
    "kind": "churn",
    "horizon_days": HORIZON,
    "lookback_days": DAYS,
    "qualifying_events": None,
    "churn_events": [],
    "snapshots": {"cutoffs": [str(START + pd.Timedelta(days=d)) for d in TRAIN_DAYS]},
}
TRAIN_SPEC = {
    "windows": [1, 7, 30],
    "rfm": {"bgnbd": True},
    "clv": CLV,
    "activity": {"top_k": 3},
    "trends": {"windows": [1, 7], "slope_weeks": 4},
    "funnel": {"windows": [1, 30]},
    "disengagement": DISENGAGEMENT,
    "attributes": {"from_events": ["platform"]},
}
DATA_END = START + pd.Timedelta(days=DAYS - 1)
LATER = START + pd.Timedelta(days=365)

logged_rows = st.tuples(
    st.sampled_from(IDS),
    st.integers(0, DAYS * 1440 - 1),
    st.sampled_from(VOCAB),
    st.floats(0, 500, allow_nan=False),
    st.sampled_from([None, "s1", "s2"]),
    st.sampled_from([None, None, "web", "ios"]),
)


def log_of(rows: list[tuple], amounts: bool, sessions: bool) -> pd.DataFrame:
    """A log with amounts, session ids and a platform property (each may be all missing)."""
    frame = frame_of([row[:4] for row in rows])
    return frame.assign(
        amount=frame["amount"] if amounts else np.nan,
        session_id=pd.array([row[4] if sessions else None for row in rows], dtype="str"),
        platform=pd.array([row[5] for row in rows], dtype="str"),
    )


def features_up_to(table, cutoff: pd.Timestamp) -> pd.DataFrame:
    """The training rows at or before a cutoff, without labels (later events decide those)."""
    return table.frame.loc[table.frame["cutoff"] <= cutoff].drop(columns="label")


def training_table(events: pd.DataFrame):
    """The training table as the train app builds it (customers derived as configured)."""
    customers = load_customers({"from_events": ["platform"]}, events=events, now=LATER)
    return build_training_table(events, customers, TRAIN_TASK, TRAIN_SPEC, data_end=DATA_END)


@SETTINGS
@given(
    past=st.lists(logged_rows, max_size=40),
    amounts=st.booleans(),
    sessions=st.booleans(),
    injected=st.lists(logged_rows, max_size=20),
    flood=st.integers(1, 60),
    flooded=st.sampled_from(IDS),
    from_day=st.sampled_from(TRAIN_DAYS),
)
def test_events_at_or_after_a_training_cutoff_change_no_feature_up_to_it(
    past, amounts, sessions, injected, flood, flooded, from_day
):
    start = from_day * 1440
    seeds = [(i, 0, "page_view", 0.0, None, None) for i in IDS]  # everyone is eligible
    original = log_of(seeds + past, amounts, sessions)
    late = [(c, max(m, start), e, a, s or "late", p or "tv") for c, m, e, a, s, p in injected]
    new_type = [(flooded, start + i, "flash_sale", 9.0, "burst", "tv") for i in range(flood)]
    modified = pd.concat(
        [original, log_of(late + new_type, amounts=True, sessions=True)], ignore_index=True
    )
    before = training_table(original)
    after = training_table(modified.sample(frac=1, random_state=1))
    assert after.feature_names == before.feature_names
    assert after.resolved_features == before.resolved_features
    cutoff = START + pd.Timedelta(days=from_day)
    pdt.assert_frame_equal(features_up_to(after, cutoff), features_up_to(before, cutoff))
