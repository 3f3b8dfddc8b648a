"""The promotion decision on hand-made bootstrap evidence."""

import pytest

from behaviorlab.modeling.gate import decide_against_champion, decide_first_model

GATE = {
    "metric": "roc_auc",
    "margin": 0.0,
    "alpha": 0.05,
    "guards": {"pr_auc": 0.01, "brier": 0.01},
    "floor": 0.6,
}
CHAMPION = {"roc_auc": 0.80, "pr_auc": 0.50, "brier": 0.150}
NO_CHANGE = {"point": 0.0, "low": -0.005, "high": 0.005}


def evidence(gain: dict, **guards: dict) -> dict:
    return {"roc_auc": gain, "pr_auc": NO_CHANGE, "brier": NO_CHANGE} | guards


def challenger_with(gain: float) -> dict:
    return CHAMPION | {"roc_auc": CHAMPION["roc_auc"] + gain}


def test_first_model_is_promoted_only_above_the_floor():
    assert decide_first_model({"roc_auc": 0.61}, GATE).promote
    refused = decide_first_model({"roc_auc": 0.55}, GATE)
    assert not refused.promote
    assert "floor" in refused.reason


def test_small_gain_whose_interval_spans_zero_is_kept_as_challenger():
    spans_zero = {"point": 0.0030, "low": -0.0055, "high": 0.0124}
    decision = decide_against_champion(challenger_with(0.003), CHAMPION, evidence(spans_zero), GATE)
    assert not decision.promote
    assert "lower bound -0.0055" in decision.reason
    assert decision.figures["ci_low"] == -0.0055


def test_clear_gain_is_promoted():
    clear = {"point": 0.02, "low": 0.011, "high": 0.029}
    decision = decide_against_champion(challenger_with(0.02), CHAMPION, evidence(clear), GATE)
    assert decision.promote, decision.reason
    assert decision.figures["difference"] == pytest.approx(0.02)


def test_clear_gain_must_clear_the_margin_with_its_lower_bound():
    clear = {"point": 0.02, "low": 0.011, "high": 0.029}
    decision = decide_against_champion(
        challenger_with(0.02), CHAMPION, evidence(clear), GATE | {"margin": 0.015}
    )
    assert not decision.promote
    assert "margin 0.015" in decision.reason


def test_guard_worse_with_confidence_refuses():
    clear = {"point": 0.03, "low": 0.02, "high": 0.04}
    brier_worse = {"point": 0.03, "low": 0.02, "high": 0.04}
    decision = decide_against_champion(
        challenger_with(0.03), CHAMPION, evidence(clear, brier=brier_worse), GATE
    )
    assert not decision.promote
    assert "brier" in decision.reason


def test_guard_worse_only_in_point_value_does_not_refuse():
    clear = {"point": 0.03, "low": 0.02, "high": 0.04}
    pr_noisy = {"point": -0.015, "low": -0.04, "high": 0.008}
    decision = decide_against_champion(
        challenger_with(0.03), CHAMPION, evidence(clear, pr_auc=pr_noisy), GATE
    )
    assert decision.promote, decision.reason


def test_higher_is_better_guard_surely_worse_refuses():
    clear = {"point": 0.03, "low": 0.02, "high": 0.04}
    pr_worse = {"point": -0.05, "low": -0.08, "high": -0.02}
    decision = decide_against_champion(
        challenger_with(0.03), CHAMPION, evidence(clear, pr_auc=pr_worse), GATE
    )
    assert not decision.promote
    assert "pr_auc" in decision.reason


def test_identical_predictions_are_not_promoted_even_at_a_negative_margin():
    zero = {"point": 0.0, "low": 0.0, "high": 0.0}
    decision = decide_against_champion(
        CHAMPION, CHAMPION, evidence(zero), GATE | {"margin": -0.01}, identical=True
    )
    assert not decision.promote
    assert "identical" in decision.reason


def test_zero_gain_does_not_clear_a_zero_margin():
    zero = {"point": 0.0, "low": 0.0, "high": 0.0}
    assert not decide_against_champion(CHAMPION, CHAMPION, evidence(zero), GATE).promote
