"""Tier assignment from configured thresholds."""

import numpy as np

from behaviorlab.scoring.predict import assign_tiers, reason_columns


def test_tiers_follow_the_highest_threshold_reached():
    p = np.array([0.0, 0.49, 0.5, 0.79, 0.8, 1.0])
    tiers = assign_tiers(p, {"medium": 0.5, "high": 0.8})
    assert tiers.tolist() == ["low", "low", "medium", "medium", "high", "high"]


def test_reason_columns_pair_names_with_values():
    assert reason_columns(2) == ["reason_1", "reason_1_value", "reason_2", "reason_2_value"]
