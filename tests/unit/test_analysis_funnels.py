"""Funnels on a hand-built log, and on the ecom data against a plain-pandas count."""

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from behaviorlab.analysis import funnels
from behaviorlab.errors import ConfigError

ECOM_STEPS = [
    "home",
    "product_view",
    "add_to_cart",
    "cart",
    "shipping_details",
    "payment_details",
    "purchase",
]


def log(rows):
    frame = pd.DataFrame(rows, columns=["customer_id", "session_id", "timestamp", "event"])
    return frame.assign(timestamp=pd.to_datetime(frame["timestamp"]).astype("datetime64[us]"))


@pytest.fixture
def events():
    return log(
        [
            # u1: view, cart, buy in order within an hour
            ("u1", "s1", "2024-01-01 10:00", "view"),
            ("u1", "s1", "2024-01-01 10:10", "cart"),
            ("u1", "s1", "2024-01-01 10:30", "buy"),
            # u2: cart before view -> strict reaches step 1 only, any order reaches 2
            ("u2", "s2", "2024-01-01 09:00", "cart"),
            ("u2", "s2", "2024-01-01 09:05", "view"),
            # u3: view, cart, then buys 3 days later (outside a 1-day window)
            ("u3", "s3", "2024-01-01 10:00", "view"),
            ("u3", "s3", "2024-01-01 10:20", "cart"),
            ("u3", "s4", "2024-01-04 10:00", "buy"),
            # u4: never views
            ("u4", "s5", "2024-01-01 10:00", "cart"),
        ]
    )


STEPS = funnels.parse_steps(["view", "cart", "buy"])


def test_strict_funnel_with_window(events):
    journeys = funnels.trace_journeys(events, STEPS, pd.Timedelta("1D"))
    assert dict(zip(journeys["unit_id"], journeys["steps_reached"], strict=True)) == {
        "u1": 3,
        "u2": 1,
        "u3": 2,
    }
    summary = funnels.summarize_funnel(journeys, STEPS)
    expected = pd.DataFrame(
        {
            "step_number": [1, 2, 3],
            "step": ["view", "cart", "buy"],
            "entered": [3, 2, 1],
            "converted": pd.array([2, 1, pd.NA], dtype="Int64"),
            "step_conversion": [1.0, 2 / 3, 1 / 2],
            "overall_conversion": [1.0, 2 / 3, 1 / 3],
            "drop_off": [0, 1, 1],
            "drop_off_rate": [0.0, 1 / 3, 1 / 2],
            "median_seconds_from_previous": [float("nan"), 900.0, 1200.0],
            "median_seconds_from_start": [0.0, 900.0, 1800.0],
        }
    )
    assert_frame_equal(summary, expected, check_dtype=False)


def test_no_window_and_any_order(events):
    unlimited = funnels.summarize_funnel(funnels.trace_journeys(events, STEPS, None), STEPS)
    assert list(unlimited["entered"]) == [3, 2, 2]
    any_order = funnels.trace_journeys(events, STEPS, pd.Timedelta("1D"), ordering="any")
    reached = dict(zip(any_order["unit_id"], any_order["steps_reached"], strict=True))
    assert reached == {"u1": 3, "u2": 1, "u3": 2}  # u2's cart came before its view


def test_sessions_as_units(events):
    journeys = funnels.trace_journeys(events, STEPS, None, unit="session")
    assert set(journeys["unit_id"]) == {"s1", "s2", "s3"}
    assert journeys.set_index("unit_id").at["s3", "steps_reached"] == 2  # buy is in s4


def test_repeated_step_needs_a_later_event():
    events = log(
        [
            ("a", "x", "2024-01-01", "buy"),
            ("a", "x", "2024-02-01", "buy"),
            ("b", "y", "2024-01-01", "buy"),
        ]
    )
    steps = funnels.parse_steps(["buy", "buy"])
    assert [step.name for step in steps] == ["buy #1", "buy #2"]
    summary = funnels.summarize_funnel(funnels.trace_journeys(events, steps, None), steps)
    assert list(summary["entered"]) == [2, 1]


def test_property_filter_and_breakdown(events):
    events = events.assign(platform=["web", "web", "web", "app", "app", "app", "app", "app", "web"])
    steps = funnels.parse_steps(["view", {"event": "cart", "where": {"platform": "web"}}])
    journeys = funnels.trace_journeys(events, steps, None)
    assert journeys.set_index("unit_id")["steps_reached"].to_dict() == {"u1": 2, "u2": 1, "u3": 1}
    grouped = funnels.summarize_funnel(
        journeys.assign(channel=["ads", "ads", "seo"]), steps, by="channel"
    )
    assert list(grouped["channel"]) == ["ads", "ads", "seo", "seo"]
    assert list(grouped["entered"]) == [2, 1, 1, 0]
    assert list(grouped["overall_conversion"]) == [1.0, 0.5, 1.0, 0.0]


def test_drop_comparison_ranks_by_effect(events):
    journeys = funnels.trace_journeys(events, STEPS, pd.Timedelta("1D"))
    summary = funnels.summarize_funnel(journeys, STEPS)
    assert funnels.find_biggest_drop(summary) == 3
    attributes = pd.DataFrame({"customer_id": ["u1", "u2", "u3"], "plan": ["pro", "free", "free"]})
    features = pd.DataFrame({"customer_id": ["u1", "u2", "u3"], "visits": [10.0, 1.0, 2.0]})
    table = funnels.compare_drop(journeys, 2, attributes, features)
    # at step 2: u1, u3 continue (pro, free), u2 drops (free)
    plan = table[table["variable"] == "plan"].set_index("level")
    assert plan.at["pro", "converters"] == 0.5
    assert plan.at["pro", "drop_offs"] == 0.0
    visits = table[table["variable"] == "visits"].iloc[0]
    assert visits["converters"] == 6.0
    assert visits["drop_offs"] == 1.0
    assert list(table["effect_size"].abs()) == sorted(table["effect_size"].abs(), reverse=True)


def test_bad_funnel_settings():
    with pytest.raises(ConfigError, match="two steps"):
        funnels.parse_steps(["view"])
    with pytest.raises(ConfigError, match="ordering"):
        funnels.trace_journeys(pd.DataFrame(), STEPS, None, ordering="loose")


def plain_pandas_counts(frame: pd.DataFrame, steps: list[str]) -> list[int]:
    """Independent count: per user, walk the steps taking the first later matching event."""
    times = frame.sort_values("timestamp")
    current = times[times["event"] == steps[0]].groupby("user_id")["timestamp"].min()
    counts = [len(current)]
    for step in steps[1:]:
        candidates = times[times["event"] == step].merge(
            current.rename("previous"), left_on="user_id", right_index=True
        )
        later = candidates[candidates["timestamp"] >= candidates["previous"]]
        current = later.groupby("user_id")["timestamp"].min()
        counts.append(len(current))
    return counts


@pytest.mark.shared_data
def test_ecom_funnel_user_counts_match_plain_pandas(shared_data):
    raw = pd.read_csv(shared_data / "ecom" / "ecom.csv.gz")
    raw["timestamp"] = pd.to_datetime(raw["timestamp"]).astype("datetime64[us]")
    events = raw.rename(columns={"user_id": "customer_id"})
    steps = funnels.parse_steps(ECOM_STEPS)
    summary = funnels.summarize_funnel(funnels.trace_journeys(events, steps, None), steps)
    expected = plain_pandas_counts(raw, ECOM_STEPS)
    assert list(summary["entered"]) == expected
    assert expected[0] > expected[-1] > 0
