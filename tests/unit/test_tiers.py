"""Tiers from probability thresholds or from a team's capacity, and the playbook's actions."""

import numpy as np

from behaviorlab.scoring.predict import (
    actions_for,
    assign_tiers,
    capacity_thresholds,
    output_columns,
    reason_columns,
    serving_tiers,
    tier_names,
)

CAPACITY = {"mode": "capacity", "high": 0.05, "medium": 0.15}


def test_tiers_follow_the_highest_threshold_reached():
    p = np.array([0.0, 0.49, 0.5, 0.79, 0.8, 1.0])
    tiers = assign_tiers(p, {"medium": 0.5, "high": 0.8})
    assert tiers.tolist() == ["low", "low", "medium", "medium", "high", "high"]
    explicit = assign_tiers(p, {"mode": "thresholds", "high": 0.8, "medium": 0.5})
    assert explicit.tolist() == tiers.tolist()


def test_capacity_tiers_hold_exactly_their_share_even_with_tied_probabilities():
    rng = np.random.default_rng(0)
    p = np.round(rng.random(1000), 1)  # a few plateaus, as isotonic calibration makes
    tiers = assign_tiers(p, CAPACITY)
    assert (tiers == "high").sum() == 50
    assert (tiers == "medium").sum() == 150
    assert (tiers == "low").sum() == 800
    assert p[tiers == "high"].min() >= p[tiers == "medium"].max()
    assert p[tiers == "medium"].min() >= p[tiers == "low"].max()


def test_capacity_cutoffs_reproduce_the_shares_on_the_rows_they_come_from():
    p = np.random.default_rng(1).random(2000)
    cutoffs = capacity_thresholds(p, {"high": 0.05, "medium": 0.15})
    by_threshold = assign_tiers(p, {"mode": "thresholds", **cutoffs})
    assert (by_threshold == "high").sum() == 100
    assert (by_threshold == "medium").sum() == 300
    scoring = {"tiers": CAPACITY, "capacity_thresholds": cutoffs}
    assert serving_tiers(scoring) == {"mode": "thresholds", **cutoffs}
    assert serving_tiers({"tiers": CAPACITY}) == CAPACITY


def test_tier_names_run_from_the_top_tier_to_low():
    assert tier_names(CAPACITY) == ["high", "medium", "low"]
    assert tier_names({"medium": 0.5, "high": 0.8}) == ["high", "medium", "low"]
    assert tier_names({"mode": "thresholds", "high": 0.8, "medium": None}) == ["high", "low"]


def test_actions_follow_the_playbook_and_stay_empty_without_one():
    tiers = np.array(["high", "low", "medium"], dtype=object)
    playbook = {"high": "call", "medium": "email", "low": "none"}
    assert actions_for(tiers, playbook).tolist() == ["call", "none", "email"]
    assert actions_for(tiers, None).isna().all()


def test_reason_columns_pair_text_with_feature_and_contribution():
    assert reason_columns(1) == ["reason_1", "reason_1_feature", "reason_1_contribution"]
    assert output_columns(1)[:3] == ["probability", "tier", "action"]
