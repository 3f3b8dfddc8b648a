"""Metrics against scikit-learn and hand counts; lift tables; the bootstraps."""

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from behaviorlab.modeling.evaluation import (
    bootstrap_differences,
    bootstrap_interval,
    compute_metrics,
    lift_table,
)

Y = np.array([0, 0, 1, 1, 0, 1, 0, 0, 1, 0])
P = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.05, 0.6, 0.7, 0.3])


def test_metrics_match_sklearn_and_hand_counts():
    metrics = compute_metrics(Y, P, threshold=0.5, top_k_fracs=(0.2,))
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(Y, P))
    assert metrics["pr_auc"] == pytest.approx(average_precision_score(Y, P))
    assert metrics["brier"] == pytest.approx(brier_score_loss(Y, P))
    # flagged at 0.5: 0.8, 0.9, 0.6, 0.7 -> 3 true positives of 4 flagged, 3 of 4 positives
    assert metrics["precision"] == pytest.approx(0.75)
    assert metrics["recall"] == pytest.approx(0.75)
    # top 20% = the two highest scores (0.9, 0.8), both positive
    assert metrics["precision_at_top_20pct"] == 1.0
    assert metrics["lift_at_top_20pct"] == pytest.approx(1 / 0.4)
    assert metrics["base_rate"] == pytest.approx(0.4)
    assert metrics["n"] == 10
    # threshold 0.7 flags 3 rows, all positive: F1 = 2 * 1 * 0.75 / 1.75, better than 0.35
    # (6 flagged, all 4 positives: F1 = 0.8) or 0.5 (F1 = 0.75)
    assert metrics["best_f1_threshold"] == pytest.approx(0.7)
    assert metrics["f1_at_best_f1"] == pytest.approx(6 / 7)
    assert "lift_top_decile" not in metrics, "lift_at_top_10pct says it once"


def test_lift_table_sums_to_the_whole():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 1003)
    p = rng.random(1003) + 0.5 * y
    table = lift_table(y, p, n_bins=10)
    assert len(table) == 10
    assert table["n"].sum() == 1003
    assert table["positives"].sum() == y.sum()
    assert table["cumulative_gain"].iloc[-1] == pytest.approx(1.0)
    assert (table["n"] * table["lift"]).sum() / 1003 == pytest.approx(1.0)
    assert table["lift"].iloc[0] > 1.3 > table["lift"].iloc[-1]


def paired_case(n: int, seed: int):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p_new = np.round(rng.random(n) * 0.5 + 0.4 * y, 1)
    p_old = np.clip(rng.random(n) * 0.6 + 0.2 * y, 0, 1)
    return y, p_new, p_old


METRIC_FUNCTIONS = {
    "roc_auc": roc_auc_score,
    "pr_auc": average_precision_score,
    "brier": brier_score_loss,
    "log_loss": log_loss,
}


@pytest.mark.parametrize("metric", sorted(METRIC_FUNCTIONS))
def test_bootstrap_bounds_agree_with_scipy_paired_bootstrap(metric):
    y, p_new, p_old = paired_case(200, 2)
    score = METRIC_FUNCTIONS[metric]
    result = bootstrap_differences(y, p_new, p_old, n_boot=2000, seed=5, alpha=0.05)[metric]

    def difference(y, a, b):
        return score(y, a) - score(y, b)

    bounds = {
        side: stats.bootstrap(
            (y, p_new, p_old),
            difference,
            paired=True,
            vectorized=False,
            n_resamples=200,
            confidence_level=0.95,
            alternative=side,
            method="percentile",
            random_state=1,
        ).confidence_interval
        for side in ("greater", "less")
    }
    spread = result["high"] - result["low"]
    assert result["point"] == pytest.approx(difference(y, p_new, p_old))
    assert result["low"] < result["point"] < result["high"]
    assert result["low"] == pytest.approx(bounds["greater"].low, abs=0.15 * spread)
    assert result["high"] == pytest.approx(bounds["less"].high, abs=0.15 * spread)


def test_bootstrap_of_a_model_against_itself_is_zero():
    y, p, _ = paired_case(200, 3)
    result = bootstrap_differences(y, p, p, n_boot=100, seed=0, alpha=0.05)
    for metric in METRIC_FUNCTIONS:
        assert result[metric] == {"point": 0.0, "low": 0.0, "high": 0.0}


def test_a_smaller_alpha_widens_the_one_sided_bounds():
    y, p_new, p_old = paired_case(300, 4)
    loose = bootstrap_differences(y, p_new, p_old, n_boot=500, seed=1, alpha=0.2)["roc_auc"]
    strict = bootstrap_differences(y, p_new, p_old, n_boot=500, seed=1, alpha=0.01)["roc_auc"]
    assert strict["low"] < loose["low"] < loose["high"] < strict["high"]


def test_interval_of_one_model_agrees_with_scipy_percentile_bootstrap():
    y, p, _ = paired_case(300, 6)
    low, high = bootstrap_interval(y, p, n_boot=2000, seed=3, level=0.95)["roc_auc"]
    expected = stats.bootstrap(
        (y, p),
        roc_auc_score,
        paired=True,
        vectorized=False,
        n_resamples=500,
        confidence_level=0.95,
        method="percentile",
        random_state=1,
    ).confidence_interval
    spread = high - low
    assert low < roc_auc_score(y, p) < high
    assert low == pytest.approx(expected.low, abs=0.15 * spread)
    assert high == pytest.approx(expected.high, abs=0.15 * spread)
