"""Population stability of features between training and scoring, computed in chunks."""

from collections.abc import Mapping
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

    def __init__(self, profile: Mapping[str, Mapping[str, Any]]):
        self.profile = profile
        self.counts_: dict[str, np.ndarray] = {}

    def update(self, features: pd.DataFrame) -> "DriftAccumulator":
        """Add one chunk's counts."""
        for name, entry in self.profile.items():
            counts = count_bins(features[name], entry)
            self.counts_[name] = self.counts_.get(name, 0) + counts
        return self

    def report(self, warn_above: float) -> pd.DataFrame:
        """PSI per feature, largest first, with a warning flag over the threshold."""
        rows = [
            {"feature": name, "psi": population_stability(entry["shares"], self.counts_[name])}
            for name, entry in self.profile.items()
            if name in self.counts_
        ]
        report = pd.DataFrame(rows, columns=["feature", "psi"])
        report["warning"] = report["psi"] > warn_above
        return report.sort_values("psi", ascending=False, ignore_index=True)
