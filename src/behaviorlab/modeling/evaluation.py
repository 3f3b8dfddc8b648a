"""Test metrics, lift tables and the paired bootstrap behind the promotion gate."""

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)

BOOTSTRAP_CHUNK = 100


def rank_descending(p: np.ndarray) -> np.ndarray:
    """Row order from highest to lowest score; ties keep input order (deterministic)."""
    return np.argsort(-np.asarray(p), kind="stable")


def best_f1_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The score threshold with the highest F1 on these rows."""
    precision, recall, thresholds = precision_recall_curve(y, p)
    f1 = np.divide(
        2 * precision * recall,
        precision + recall,
        out=np.zeros_like(precision),
        where=(precision + recall) > 0,
    )
    return float(thresholds[np.argmax(f1[:-1])])


def threshold_metrics(y: np.ndarray, p: np.ndarray, threshold: float, suffix: str) -> dict:
    """Precision, recall and F1 when everyone at or above ``threshold`` is flagged."""
    flagged = (p >= threshold).astype(int)
    return {
        f"precision{suffix}": float(precision_score(y, flagged, zero_division=0)),
        f"recall{suffix}": float(recall_score(y, flagged, zero_division=0)),
        f"f1{suffix}": float(f1_score(y, flagged, zero_division=0)),
    }


def top_k_metrics(y: np.ndarray, p: np.ndarray, fracs: Sequence[float]) -> dict:
    """Precision and lift among the top fraction of rows by score."""
    ordered = y[rank_descending(p)]
    base_rate = y.mean()
    metrics = {}
    for frac in fracs:
        top = ordered[: max(1, int(np.ceil(frac * len(y))))]
        name = f"top_{round(frac * 100):g}pct"
        metrics[f"precision_at_{name}"] = float(top.mean())
        metrics[f"lift_at_{name}"] = float(top.mean() / base_rate) if base_rate else float("nan")
    return metrics


def compute_metrics(
    y: np.ndarray,
    p: np.ndarray,
    threshold: float = 0.5,
    top_k_fracs: Sequence[float] = (0.05, 0.1, 0.2),
) -> dict[str, float]:
    """Ranking, probability and decision metrics of probabilities ``p`` against labels ``y``."""
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=float)
    both_classes = 0 < y.sum() < len(y)
    nan = float("nan")
    best = best_f1_threshold(y, p) if both_classes else nan
    return {
        "n": len(y),
        "base_rate": float(y.mean()),
        "roc_auc": float(roc_auc_score(y, p)) if both_classes else nan,
        "pr_auc": float(average_precision_score(y, p)) if both_classes else nan,
        "log_loss": float(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])),
        "brier": float(brier_score_loss(y, p, pos_label=1)),
        **threshold_metrics(y, p, threshold, ""),
        "best_f1_threshold": best,
        **(threshold_metrics(y, p, best, "_at_best_f1") if both_classes else {}),
        **top_k_metrics(y, p, top_k_fracs),
        "lift_top_decile": top_k_metrics(y, p, [0.1])["lift_at_top_10pct"],
    }


def lift_table(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Rows ranked by score in equal bins: positives, rate, lift and cumulative gains."""
    y = np.asarray(y).astype(int)
    order = rank_descending(p)
    bins = np.arange(len(y)) * n_bins // len(y) + 1
    frame = pd.DataFrame({"decile": bins, "label": y[order], "p": np.asarray(p)[order]})
    table = frame.groupby("decile").agg(
        n=("label", "size"),
        positives=("label", "sum"),
        p_min=("p", "min"),
        p_max=("p", "max"),
    )
    table = table.reset_index()
    base_rate = y.mean()
    table["rate"] = table["positives"] / table["n"]
    table["lift"] = table["rate"] / base_rate
    table["cumulative_n_share"] = table["n"].cumsum() / len(y)
    table["cumulative_gain"] = table["positives"].cumsum() / max(y.sum(), 1)
    table["cumulative_lift"] = table["cumulative_gain"] / table["cumulative_n_share"]
    return table


def group_weights(scores: np.ndarray, y: np.ndarray) -> tuple[sparse.csr_matrix, ...]:
    """Membership of each row in its tied-score group, split by class (rows x groups)."""
    _, group = np.unique(scores, return_inverse=True)
    shape = (len(scores), int(group.max()) + 1)
    rows = np.arange(len(scores))
    positive = y == 1
    to_pos = sparse.csr_matrix((positive.astype(float), (rows, group)), shape=shape)
    to_neg = sparse.csr_matrix(((~positive).astype(float), (rows, group)), shape=shape)
    return to_pos, to_neg


def weighted_auc(counts: np.ndarray, to_pos: sparse.csr_matrix, to_neg: sparse.csr_matrix):
    """ROC AUC for each row of resampling counts (boots x rows), ties counted half."""
    pos = np.asarray((to_pos.T @ counts.T).T)
    neg = np.asarray((to_neg.T @ counts.T).T)
    below = np.cumsum(neg, axis=1) - neg
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    wins = (pos * (below + 0.5 * neg)).sum(axis=1)
    return np.divide(wins, pairs, out=np.full(len(wins), np.nan), where=pairs > 0)


def bootstrap_auc_difference(
    y: np.ndarray, p_new: np.ndarray, p_old: np.ndarray, n_boot: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Paired bootstrap of AUC(new) - AUC(old) on the same rows: point value and 95% CI."""
    y = np.asarray(y).astype(int)
    n = len(y)
    rng = np.random.default_rng(seed)
    new_groups = group_weights(np.asarray(p_new, dtype=float), y)
    old_groups = group_weights(np.asarray(p_old, dtype=float), y)
    diffs = []
    for start in range(0, n_boot, BOOTSTRAP_CHUNK):
        size = min(BOOTSTRAP_CHUNK, n_boot - start)
        draws = rng.integers(0, n, size=(size, n))
        flat = (np.arange(size)[:, None] * n + draws).ravel()
        counts = np.bincount(flat, minlength=size * n).reshape(size, n).astype(float)
        diffs.append(weighted_auc(counts, *new_groups) - weighted_auc(counts, *old_groups))
    diff = np.concatenate(diffs)
    low, high = np.nanpercentile(diff, [2.5, 97.5])
    point = roc_auc_score(y, p_new) - roc_auc_score(y, p_old)
    return {
        "diff": float(point),
        "ci_low": float(low),
        "ci_high": float(high),
        "p_not_better": float(np.nanmean(diff <= 0)),
        "n_boot": n_boot,
    }
