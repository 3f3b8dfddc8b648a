"""Metrics against scikit-learn and hand counts; lift tables; the paired AUC bootstrap."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from behaviorlab.modeling.evaluation import bootstrap_auc_difference, compute_metrics, lift_table

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


def test_bootstrap_matches_a_naive_loop_and_brackets_the_difference():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 400)
    p_new = np.round(rng.random(400) + 0.6 * y, 1)
    p_old = rng.random(400) + 0.2 * y
    result = bootstrap_auc_difference(y, p_new, p_old, n_boot=300, seed=5)
    naive = []
    draws = np.random.default_rng(9).integers(0, 400, size=(300, 400))
    for rows in draws:
        naive.append(roc_auc_score(y[rows], p_new[rows]) - roc_auc_score(y[rows], p_old[rows]))
    assert result["diff"] == pytest.approx(roc_auc_score(y, p_new) - roc_auc_score(y, p_old))
    assert result["ci_low"] < result["diff"] < result["ci_high"]
    assert result["ci_low"] > 0
    assert result["ci_low"] == pytest.approx(np.percentile(naive, 2.5), abs=0.02)
    assert result["ci_high"] == pytest.approx(np.percentile(naive, 97.5), abs=0.02)


def test_bootstrap_of_a_model_against_itself_is_zero():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    p = rng.random(200)
    result = bootstrap_auc_difference(y, p, p, n_boot=100, seed=0)
    assert result["diff"] == 0
    assert result["ci_low"] == result["ci_high"] == 0
