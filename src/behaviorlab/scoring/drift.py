"""Drift of features between training and scoring, computed in chunks.

Per feature: the population stability index (PSI) against the training profile, the share
of missing values then and now, and the share of categorical values outside the training
levels. Features that grow with the calendar alone (tenure, days since signup) always
drift between a training period and a later scoring date: they are listed as excluded
instead of measured.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

EPSILON = 1e-4


def profile_features(frame: pd.DataFrame, feature_names: list[str], bins: int = 10) -> dict:
    """Reference distribution of each feature on the training rows: bin edges and shares.

    Numeric features get quantile edges (plus a bin for missing values), categoricals their
    level shares; the profile is plain JSON so it travels inside the model.
    """
    profile = {}
    for name in feature_names:
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype) or column.dtype == object:
            levels = [str(level) for level in column.dropna().unique()]
            profile[name] = {"kind": "categorical", "levels": sorted(levels)}
        else:
            values = column.to_numpy(dtype=float)
            finite = values[np.isfinite(values)]
            quantiles = (
                np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]) if len(finite) else []
            )
            profile[name] = {"kind": "numeric", "edges": sorted(set(map(float, quantiles)))}
        profile[name]["shares"] = (count_bins(column, profile[name]) / len(column)).tolist()
    return profile


def count_bins(column: pd.Series, entry: Mapping[str, Any]) -> np.ndarray:
    """Counts of a column's values in the profile's bins (last bin: missing or unseen)."""
    if entry["kind"] == "categorical":
        levels = entry["levels"]
        labels = column.astype("object").map(str, na_action="ignore")
        codes = pd.Index(levels).get_indexer(labels)
        codes = np.where(codes < 0, len(levels), codes)
        return np.bincount(codes, minlength=len(levels) + 1).astype(float)
    values = column.to_numpy(dtype=float)
    edges = np.asarray(entry["edges"], dtype=float)
    index = np.where(
        np.isfinite(values), np.searchsorted(edges, values, side="right"), len(edges) + 1
    )
    return np.bincount(index, minlength=len(edges) + 2).astype(float)


def population_stability(expected: np.ndarray, actual_counts: np.ndarray) -> float:
    """PSI between reference shares and observed counts; small shares floored to stay finite."""
    actual = actual_counts / max(actual_counts.sum(), 1.0)
    expected = np.clip(np.asarray(expected, dtype=float), EPSILON, None)
    actual = np.clip(actual, EPSILON, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


class DriftAccumulator:
    """Collects bin counts chunk by chunk, so drift needs no second pass over the scores."""

    def __init__(self, profile: Mapping[str, Mapping[str, Any]], exclude: Sequence[str] = ()):
        self.profile = {name: e for name, e in profile.items() if name not in set(exclude)}
        self.excluded = [name for name in profile if name in set(exclude)]
        self.counts_: dict[str, np.ndarray] = {}
        self.missing_: dict[str, int] = {}
        self.unseen_: dict[str, int] = {}

    def update(self, features: pd.DataFrame, raw: pd.DataFrame | None = None):
        """Add one chunk's counts. ``raw`` holds categorical values before unseen levels were
        masked (aligned with ``features``), when the caller still has them."""
        for name, entry in self.profile.items():
            column = features[name]
            self.counts_[name] = self.counts_.get(name, 0) + count_bins(column, entry)
            self.missing_[name] = self.missing_.get(name, 0) + int(column.isna().sum())
            if entry["kind"] == "categorical":
                source = raw[name] if raw is not None and name in raw.columns else column
                self.unseen_[name] = self.unseen_.get(name, 0) + count_unseen(source, entry)
        return self

    def report(self, warn_above: float) -> pd.DataFrame:
        """PSI, missing shares (training, now) and unseen-level share per feature, largest
        PSI first, with a warning flag over the threshold."""
        rows = []
        for name, entry in self.profile.items():
            if name not in self.counts_:
                continue
            total = max(float(self.counts_[name].sum()), 1.0)
            rows.append(
                {
                    "feature": name,
                    "psi": population_stability(entry["shares"], self.counts_[name]),
                    "missing_train": float(entry["shares"][-1]),
                    "missing_now": self.missing_[name] / total,
                    "unseen_now": self.unseen_.get(name, 0) / total,
                }
            )
        report = pd.DataFrame(rows, columns=[*REPORT_COLUMNS])
        report["warning"] = report["psi"] > warn_above
        return report.sort_values("psi", ascending=False, ignore_index=True)


REPORT_COLUMNS = ("feature", "psi", "missing_train", "missing_now", "unseen_now")


def count_unseen(values: pd.Series, entry: Mapping[str, Any]) -> int:
    """Values present but outside the training levels."""
    labels = values.astype("object").map(str, na_action="ignore")
    return int((labels.notna() & ~labels.isin(entry["levels"])).sum())
