"""RFM scores and segments on a hand-built purchase log."""

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from behaviorlab.analysis import rfm
from behaviorlab.errors import ConfigError, DataValidationError

GRID = {
    5: ["New Customers", "Potential Loyalists", "Potential Loyalists", "Champions", "Champions"],
    4: ["Promising", "Potential Loyalists", "Potential Loyalists", "Loyal", "Loyal"],
    3: ["About to Sleep", "About to Sleep", "Need Attention", "Loyal", "Loyal"],
    2: ["Hibernating", "Hibernating", "At Risk", "At Risk", "Can't Lose Them"],
    1: ["Lost", "Hibernating", "At Risk", "At Risk", "Can't Lose Them"],
}
CUTOFF = pd.Timestamp("2024-03-01")


def log(rows):
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "event", "amount"])
    return frame.assign(timestamp=pd.to_datetime(frame["timestamp"]).astype("datetime64[us]"))


@pytest.fixture
def events():
    # five purchasers with distinct recency, frequency and spend, plus noise that must not count
    return log(
        [
            ("champ", "2024-02-28 10:00", "purchase", 100.0),
            ("champ", "2024-02-28 18:00", "purchase", 100.0),  # same day: one occasion
            ("champ", "2024-02-20 10:00", "purchase", 100.0),
            ("champ", "2024-02-10 10:00", "purchase", 100.0),
            ("champ", "2024-02-01 10:00", "purchase", 100.0),
            ("bigold", "2023-09-01 10:00", "purchase", 300.0),
            ("bigold", "2023-09-05 10:00", "purchase", 300.0),
            ("bigold", "2023-09-09 10:00", "purchase", 300.0),
            ("bigold", "2023-09-10 10:00", "purchase", 300.0),
            ("newbie", "2024-02-28 12:00", "purchase", 5.0),
            ("lost", "2023-06-01 10:00", "purchase", 1.0),
            ("middle", "2024-01-15 10:00", "purchase", 20.0),
            ("middle", "2024-01-20 10:00", "purchase", 20.0),
            ("middle", "2024-03-01 00:00", "purchase", 999.0),  # at the cutoff: excluded
            ("browser", "2024-02-29 12:00", "page_view", None),  # never bought: not scored
        ]
    )


def test_scores_use_purchase_days_min_rank_quintiles(events):
    scores = rfm.score_rfm(events, CUTOFF)
    expected = pd.DataFrame(
        {
            "customer_id": ["bigold", "champ", "lost", "middle", "newbie"],
            "recency_days": [173, 2, 274, 41, 2],
            "frequency": [4, 4, 1, 2, 1],
            "monetary": [1200.0, 500.0, 1.0, 40.0, 5.0],
            # recency: 274->1, 173->2, 41->3; 2 and 2 tie at min rank 4 -> 1+floor(5*3/5)=4
            "r_score": [2, 4, 1, 3, 4],
            # frequency: 1,1 -> 1; 2 -> rank 3 -> 3; 4,4 -> rank 4 -> 4
            "f_score": [4, 4, 1, 3, 1],
            "m_score": [5, 4, 1, 3, 2],
            "fm_score": [5, 4, 1, 3, 2],
        }
    )
    columns = list(expected.columns)
    assert_frame_equal(scores[columns], expected, check_dtype=False)
    assert scores["last_purchase"].max() < CUTOFF


def test_scores_do_not_depend_on_row_order(events):
    shuffled = events.sample(frac=1.0, random_state=3).reset_index(drop=True)
    assert_frame_equal(rfm.score_rfm(shuffled, CUTOFF), rfm.score_rfm(events, CUTOFF))


def test_crafted_customers_land_in_expected_segments(events):
    segmented = rfm.assign_segments(rfm.score_rfm(events, CUTOFF), GRID)
    segments = dict(zip(segmented["customer_id"], segmented["segment"], strict=True))
    assert segments == {
        "champ": "Loyal",
        "bigold": "Can't Lose Them",
        "newbie": "Potential Loyalists",
        "lost": "Lost",
        "middle": "Need Attention",
    }


def test_summary_shares_and_revenue(events):
    summary = rfm.summarize_segments(rfm.assign_segments(rfm.score_rfm(events, CUTOFF), GRID))
    assert summary["customers"].sum() == 5
    assert summary["share"].sum() == pytest.approx(1.0)
    assert summary["revenue_share"].sum() == pytest.approx(1.0)
    top = summary.iloc[0]
    assert top["segment"] == "Can't Lose Them"
    assert top["revenue_share"] == pytest.approx(1200 / 1746)
    assert top["mean_days_since_purchase"] == 173


def test_missing_amounts_count_purchases(events):
    scores = rfm.score_rfm(events.drop(columns="amount"), CUTOFF)
    assert scores.set_index("customer_id").at["champ", "monetary"] == 5.0


def test_rf_grid_counts_every_customer(events):
    grid = rfm.count_rf_grid(rfm.score_rfm(events, CUTOFF))
    assert grid.shape == (5, 5)
    assert list(grid.index) == [5, 4, 3, 2, 1]
    assert grid.to_numpy().sum() == 5
    assert grid.loc[4, 4] == 1


def test_brief_names_targets_with_figures(events):
    summary = rfm.summarize_segments(rfm.assign_segments(rfm.score_rfm(events, CUTOFF), GRID))
    brief = rfm.write_brief(summary, CUTOFF)
    assert brief.startswith("# RFM brief at 2024-03-01")
    assert "1. **Can't Lose Them**: 1 customers (20.0%), 68.7% of revenue" in brief


def test_incomplete_grid_and_no_purchases_are_user_errors(events):
    with pytest.raises(ConfigError, match=r"R scores 1\.\.5"):
        rfm.assign_segments(rfm.score_rfm(events, CUTOFF), {5: ["A"] * 5})
    with pytest.raises(DataValidationError, match="no 'order' events"):
        rfm.score_rfm(events, CUTOFF, purchase_event="order")
