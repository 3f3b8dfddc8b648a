"""The promotion decision on hand-made metric sets."""

import pytest

from behaviorlab.modeling.gate import decide_against_champion, decide_first_model

GATE = {"metric": "roc_auc", "margin": 0.0, "guards": {"pr_auc": 0.01, "brier": 0.01}, "floor": 0.6}
CHAMPION = {"roc_auc": 0.80, "pr_auc": 0.50, "brier": 0.150}
CI = {"ci_low": -0.01, "ci_high": 0.03}


def test_first_model_is_promoted_only_above_the_floor():
    assert decide_first_model({"roc_auc": 0.61}, GATE).promote
    refused = decide_first_model({"roc_auc": 0.55}, GATE)
    assert not refused.promote
    assert "floor" in refused.reason


def test_better_challenger_is_promoted():
    better = {"roc_auc": 0.82, "pr_auc": 0.51, "brier": 0.149}
    decision = decide_against_champion(better, CHAMPION, CI, GATE)
    assert decision.promote
    assert decision.figures["difference"] == pytest.approx(0.02)


def test_equal_or_worse_challenger_is_kept():
    assert not decide_against_champion(CHAMPION, CHAMPION, CI, GATE).promote
    worse = {"roc_auc": 0.70, "pr_auc": 0.40, "brier": 0.2}
    assert not decide_against_champion(worse, CHAMPION, CI, GATE).promote


def test_margin_must_be_cleared():
    slightly = {"roc_auc": 0.805, "pr_auc": 0.50, "brier": 0.150}
    decision = decide_against_champion(slightly, CHAMPION, CI, GATE | {"margin": 0.01})
    assert not decision.promote
    assert "margin 0.01" in decision.reason


def test_guard_blocks_a_better_auc_with_worse_brier():
    calibrated_badly = {"roc_auc": 0.85, "pr_auc": 0.52, "brier": 0.20}
    decision = decide_against_champion(calibrated_badly, CHAMPION, CI, GATE)
    assert not decision.promote
    assert "brier" in decision.reason
