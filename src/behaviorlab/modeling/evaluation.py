"""Test metrics, lift tables and the paired bootstrap behind the promotion gate."""

from collections.abc import Iterator, Sequence

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


def group_counts(counts: np.ndarray, to_pos: sparse.csr_matrix, to_neg: sparse.csr_matrix):
    """Weighted positives and negatives per tied-score group, ascending score (boots x groups)."""
    pos = np.asarray((to_pos.T @ counts.T).T)
    neg = np.asarray((to_neg.T @ counts.T).T)
    return pos, neg


def weighted_auc(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """ROC AUC for each row of group counts, ties counted half."""
    below = np.cumsum(neg, axis=1) - neg
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    wins = (pos * (below + 0.5 * neg)).sum(axis=1)
    return np.divide(wins, pairs, out=np.full(len(wins), np.nan), where=pairs > 0)


def weighted_average_precision(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Average precision (scikit-learn's step sum, one step per distinct score) per row."""
    pos, neg = pos[:, ::-1], neg[:, ::-1]
    true_pos = np.cumsum(pos, axis=1)
    flagged = true_pos + np.cumsum(neg, axis=1)
    precision = np.divide(true_pos, flagged, out=np.zeros_like(true_pos), where=flagged > 0)
    positives = pos.sum(axis=1)
    steps = (pos * precision).sum(axis=1)
    return np.divide(steps, positives, out=np.full(len(steps), np.nan), where=positives > 0)


def row_losses(y: np.ndarray, p: np.ndarray) -> dict[str, np.ndarray]:
    """Per-row Brier and log loss terms: a resample's loss is their count-weighted mean."""
    clipped = np.clip(p, 1e-15, 1 - 1e-15)
    return {
        "brier": (p - y) ** 2,
        "log_loss": -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)),
    }


BOOTSTRAP_METRICS = ("roc_auc", "pr_auc", "brier", "log_loss")


def resampled_metrics(counts: np.ndarray, groups, losses) -> dict[str, np.ndarray]:
    """Every gate metric of one model for each row of resampling counts (boots x rows)."""
    pos, neg = group_counts(counts, *groups)
    n = counts.sum(axis=1)
    return {
        "roc_auc": weighted_auc(pos, neg),
        "pr_auc": weighted_average_precision(pos, neg),
        **{name: counts @ terms / n for name, terms in losses.items()},
    }


def resample_counts(n: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Bootstrap resamples of ``n`` rows as count matrices (resamples x rows), in chunks."""
    rng = np.random.default_rng(seed)
    for start in range(0, n_boot, BOOTSTRAP_CHUNK):
        size = min(BOOTSTRAP_CHUNK, n_boot - start)
        draws = rng.integers(0, n, size=(size, n))
        flat = (np.arange(size)[:, None] * n + draws).ravel()
        yield np.bincount(flat, minlength=size * n).reshape(size, n).astype(float)


def bootstrap_interval(
    y: np.ndarray, p: np.ndarray, n_boot: int, seed: int, level: float = 0.95
) -> dict[str, tuple[float, float]]:
    """Two-sided percentile bootstrap interval of each gate metric of one model's scores.

    Resamples rows (test rows, not customers), so it states the sampling noise of the test
    set a reader sees beside the point figure; the gate's paired bootstrap is the tool for
    comparing two models.
    """
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=float)
    model = (group_weights(p, y), row_losses(y, p))
    draws = [resampled_metrics(counts, *model) for counts in resample_counts(len(y), n_boot, seed)]
    tail = (1 - level) / 2
    result = {}
    for name in BOOTSTRAP_METRICS:
        values = np.concatenate([draw[name] for draw in draws])
        low, high = np.nanquantile(values, [tail, 1 - tail])
        result[name] = (float(low), float(high))
    return result


def bootstrap_differences(
    y: np.ndarray,
    p_new: np.ndarray,
    p_old: np.ndarray,
    n_boot: int,
    seed: int,
    alpha: float,
) -> dict[str, dict[str, float]]:
    """Paired bootstrap of metric(new) - metric(old) on the same resampled rows.

    For each of ROC AUC, PR AUC (average precision), Brier and log loss: the point
    difference and the one-sided percentile bounds at level ``alpha`` (``low`` is the
    ``alpha`` quantile, ``high`` the ``1 - alpha`` quantile), so "better with confidence
    1 - alpha" is ``low > 0`` for a higher-is-better metric. Resamples are drawn as count
    matrices and scored in vectorised chunks; the result agrees with
    ``scipy.stats.bootstrap(paired=True, method="percentile")`` (tested) and is far faster.
    """
    y = np.asarray(y).astype(int)
    p_new, p_old = np.asarray(p_new, dtype=float), np.asarray(p_old, dtype=float)
    n = len(y)
    models = [(group_weights(p, y), row_losses(y, p)) for p in (p_new, p_old)]
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in BOOTSTRAP_METRICS}
    for counts in resample_counts(n, n_boot, seed):
        new, old = (resampled_metrics(counts, *model) for model in models)
        for name in BOOTSTRAP_METRICS:
            chunks[name].append(new[name] - old[name])
    ones = np.ones((1, n))
    point_new, point_old = (resampled_metrics(ones, *model) for model in models)
    result = {}
    for name in BOOTSTRAP_METRICS:
        diff = np.concatenate(chunks[name])
        low, high = np.nanquantile(diff, [alpha, 1 - alpha])
        result[name] = {
            "point": float(point_new[name][0] - point_old[name][0]),
            "low": float(low),
            "high": float(high),
        }
    return result
