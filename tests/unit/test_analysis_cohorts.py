"""Cohort retention on a hand-built log with hand-computed matrices."""

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from behaviorlab.analysis import cohorts
from behaviorlab.errors import ConfigError, DataValidationError


def log(rows):
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "event"])
    return frame.assign(timestamp=pd.to_datetime(frame["timestamp"]).astype("datetime64[us]"))


@pytest.fixture
def events():
    return log(
        [
            ("a", "2024-01-05", "login"),
            ("a", "2024-02-10", "purchase"),
            ("a", "2024-03-01", "login"),
            ("b", "2024-01-20", "login"),
            ("b", "2024-03-15", "login"),
            ("c", "2024-01-31", "login"),
            ("c", "2024-02-01", "login"),
            ("d", "2024-02-03", "login"),
            ("d", "2024-02-05", "purchase"),
            ("e", "2024-03-10", "login"),
        ]
    )


DATA_END = pd.Timestamp("2024-03-15")


def monthly(events):
    return cohorts.assign_period_cohorts(cohorts.find_anchors(events, None), "month")


def test_monthly_matrices_match_hand_counts(events):
    table = cohorts.compute_retention(events, monthly(events), "month", DATA_END)
    expected = pd.DataFrame(
        {
            "cohort": ["2024-01"] * 3 + ["2024-02"] * 2 + ["2024-03"],
            "cohort_size": [3, 3, 3, 1, 1, 1],
            "period": [0, 1, 2, 0, 1, 0],
            "customers": [3, 3, 3, 1, 1, 1],
            # Jan: a,b,c active in Jan; a,c in Feb; a,b in Mar. Feb: d, gone in Mar. Mar: e.
            "returned": [3, 2, 2, 1, 0, 1],
            "returned_or_later": [3, 3, 2, 1, 0, 1],
        }
    )
    expected["rate"] = expected["returned"] / expected["customers"]
    expected["rate_or_later"] = expected["returned_or_later"] / expected["customers"]
    assert_frame_equal(table, expected[table.columns], check_dtype=False)
    rates = cohorts.pivot_retention(table, "rate")
    assert rates.loc["2024-01", 1] == pytest.approx(2 / 3)
    assert pd.isna(rates.loc["2024-03", 1])  # not observed yet


def test_cohort_sizes_sum_to_customers_and_rates_are_proportions(events):
    assigned = monthly(events)
    table = cohorts.compute_retention(events, assigned, "week", DATA_END, max_periods=20)
    sizes = table.drop_duplicates("cohort")["cohort_size"]
    assert sizes.sum() == events["customer_id"].nunique()
    assert table["rate"].between(0, 1).all()
    assert table["rate_or_later"].between(0, 1).all()
    assert (table["rate_or_later"] >= table["rate"]).all()


def test_returning_event_restricts_returns(events):
    table = cohorts.compute_retention(
        events, monthly(events), "month", DATA_END, returning_event="purchase"
    )
    jan = table[table["cohort"] == "2024-01"].set_index("period")
    assert list(jan["returned"]) == [0, 1, 0]
    assert list(jan["returned_or_later"]) == [1, 1, 0]


def test_week_cohorts_start_on_monday(events):
    weekly = cohorts.assign_period_cohorts(cohorts.find_anchors(events, None), "week")
    labels = dict(zip(weekly["customer_id"], weekly["cohort"], strict=True))
    assert labels["a"] == "2024-01-01"  # Friday 5 Jan -> Monday 1 Jan
    assert labels["c"] == "2024-01-29"


def test_signup_anchor_keeps_customers_without_events(events):
    customers = pd.DataFrame(
        {
            "customer_id": ["a", "z"],
            "signup_at": pd.to_datetime(["2024-01-01", "2024-02-01"]).astype("datetime64[us]"),
        }
    )
    anchors = cohorts.find_anchors(events, customers, "signup")
    table = cohorts.compute_retention(
        events, cohorts.assign_period_cohorts(anchors, "month"), "month", DATA_END
    )
    feb = table[table["cohort"] == "2024-02"]
    assert list(feb["cohort_size"].unique()) == [1]
    assert feb["returned"].sum() == 0


def test_behaviour_cohorts_and_two_proportion_test(events):
    anchors = cohorts.find_anchors(events, None)
    split = cohorts.assign_behaviour_cohorts(events, anchors, "purchase", within_days=7)
    labels = dict(zip(split["customer_id"], split["cohort"], strict=True))
    assert labels["d"] == "purchase within 7d"  # 2 days after start
    assert labels["a"] == "no purchase within 7d"  # 36 days after start
    table = cohorts.compute_retention(events, split, "month", DATA_END)
    result = cohorts.compare_cohorts(table, "purchase within 7d", "no purchase within 7d", 0)
    assert result.rate_a == 1.0
    assert result.rate_b == 1.0
    assert result.difference == 0.0
    assert result.p_value == 1.0


def test_compare_cohorts_hand_computed():
    table = pd.DataFrame(
        {
            "cohort": ["x", "y"],
            "period": [1, 1],
            "customers": [100, 200],
            "returned": [30, 40],
            "returned_or_later": [50, 60],
        }
    )
    result = cohorts.compare_cohorts(table, "x", "y", 1)
    pooled = 70 / 300
    z = (0.3 - 0.2) / (pooled * (1 - pooled) * (1 / 100 + 1 / 200)) ** 0.5
    se = (0.3 * 0.7 / 100 + 0.2 * 0.8 / 200) ** 0.5
    assert result.z == pytest.approx(z)
    assert result.ci_low == pytest.approx(0.1 - 1.959964 * se, abs=1e-6)
    assert result.p_value == pytest.approx(0.0528, abs=1e-3)


def test_bad_settings_are_user_errors(events):
    with pytest.raises(ConfigError, match="period"):
        cohorts.assign_period_cohorts(cohorts.find_anchors(events, None), "year")
    with pytest.raises(DataValidationError, match="signup_at"):
        cohorts.find_anchors(events, None, "signup")
