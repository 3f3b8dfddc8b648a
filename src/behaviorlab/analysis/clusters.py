"""Behavioural clustering: k-means (or a Gaussian mixture) on log-scaled, standardised features."""

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from behaviorlab.data.contract import CUSTOMER_ID
from behaviorlab.errors import ConfigError, DataValidationError

METHODS = ("kmeans", "gmm")


def scale_features(features: pd.DataFrame) -> pd.DataFrame:
    """Numeric features, signed-log1p scaled, median-imputed and standardised.

    The log tames the heavy tails of counts and spend so that a few big customers do not
    become clusters of their own; constant columns carry no information and are dropped.
    """
    numeric = features.set_index(CUSTOMER_ID).select_dtypes("number").astype("float64")
    logged = np.sign(numeric) * np.log1p(numeric.abs())
    filled = logged.fillna(logged.median())
    spread = filled.std(ddof=0)
    kept = spread.index[spread > 0]
    if len(kept) == 0:
        raise DataValidationError("clustering needs at least one non-constant numeric feature")
    return (filled[kept] - filled[kept].mean()) / spread[kept]


def fit_labels(scaled: pd.DataFrame, k: int, method: str, seed: int) -> np.ndarray:
    """Cluster labels 0..k-1 from one fit.

    One BLAS/OpenMP thread: these fits are small, and on a busy machine more threads
    contend and run many times slower.
    """
    if method not in METHODS:
        raise ConfigError(f"clustering method must be one of {METHODS}, got '{method}'")
    values = scaled.to_numpy()
    with threadpool_limits(limits=1):
        if method == "kmeans":
            return KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(values)
        return GaussianMixture(n_components=k, random_state=seed).fit(values).predict(values)


def score_k(
    scaled: pd.DataFrame,
    k_range: Sequence[int],
    method: str,
    seed: int,
    sample_size: int,
) -> pd.DataFrame:
    """Silhouette of each candidate k, on a fixed random sample (silhouette is quadratic)."""
    rng = np.random.default_rng(seed)
    size = min(sample_size, len(scaled))
    sample = scaled.iloc[np.sort(rng.choice(len(scaled), size=size, replace=False))]
    rows = []
    for k in k_range:
        if not 2 <= k < size:
            continue
        labels = fit_labels(sample, k, method, seed)
        score = silhouette_score(sample.to_numpy(), labels) if len(set(labels)) > 1 else np.nan
        rows.append({"k": int(k), "silhouette": float(score)})
    if not rows:
        raise DataValidationError(f"too few customers ({len(scaled)}) for k in {list(k_range)}")
    return pd.DataFrame(rows)


def measure_stability(scaled: pd.DataFrame, k: int, method: str, seeds: Sequence[int]) -> float:
    """Mean adjusted Rand index between the labelings of every pair of seeds."""
    labelings = [fit_labels(scaled, k, method, seed) for seed in seeds]
    scores = [adjusted_rand_score(a, b) for a, b in combinations(labelings, 2)]
    return float(np.mean(scores)) if scores else float("nan")


def profile_clusters(
    features: pd.DataFrame, labels: pd.Series, revenue: str | None = None
) -> pd.DataFrame:
    """Per cluster: size, share, revenue share, the mean of each feature and its z-score.

    The z-score is the cluster mean's distance from the population mean in population
    standard deviations, on the raw (unscaled) features, so it reads in the features' units.
    """
    numeric = features.set_index(CUSTOMER_ID).select_dtypes("number").astype("float64")
    cluster = labels.reindex(numeric.index).rename("cluster")
    means = numeric.groupby(cluster).mean()
    spread = numeric.std(ddof=0).replace(0, np.nan)
    z = (means - numeric.mean()) / spread
    size = cluster.value_counts().sort_index()
    profile = pd.DataFrame({"customers": size, "share": size / size.sum()})
    if revenue is not None and revenue in numeric:
        by_cluster = numeric[revenue].groupby(cluster).sum()
        total = by_cluster.sum()
        profile["revenue_share"] = by_cluster / total if total else np.nan
    profile = profile.join(means.add_prefix("mean_")).join(z.add_prefix("z_"))
    return profile.rename_axis("cluster").reset_index()


def name_clusters(profile: pd.DataFrame, n_terms: int = 2) -> pd.Series:
    """Name each cluster from its most distinctive features, e.g. "high frequency, low spend".

    A name takes the ``n_terms`` features with the largest absolute z-score; when two
    clusters would share a name (the same terms, in any order), more terms are added
    until they differ.
    """
    z = profile.set_index("cluster").filter(like="z_").rename(columns=lambda c: c[2:])
    ranked = {
        cluster: row.abs().sort_values(ascending=False, kind="stable").index
        for cluster, row in z.fillna(0).iterrows()
    }

    def describe(cluster: int, terms: int) -> str:
        words = [
            f"{'high' if z.at[cluster, name] > 0 else 'low'} {name.replace('_', ' ')}"
            for name in ranked[cluster][:terms]
        ]
        return ", ".join(words)

    def distinct(names: dict[int, str]) -> bool:
        return len({frozenset(name.split(", ")) for name in names.values()}) == len(names)

    terms = n_terms
    names = {cluster: describe(cluster, terms) for cluster in z.index}
    while not distinct(names) and terms < z.shape[1]:
        terms += 1
        names = {cluster: describe(cluster, terms) for cluster in z.index}
    return pd.Series(names, name="name").rename_axis("cluster")


def sample_customers(features: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """At most ``size`` customers drawn at random with ``seed``, in their original order.

    Clustering, stability refits and profiles then cost the same on any customer base.
    """
    if size < 1:
        raise ConfigError(f"the clustering sample must be at least 1 customer, got {size}")
    if len(features) <= size:
        return features
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(features), size=size, replace=False))
    return features.iloc[rows].reset_index(drop=True)


@dataclass(frozen=True)
class Clustering:
    """Everything one clustering produces."""

    assignments: pd.DataFrame
    profile: pd.DataFrame
    k_scores: pd.DataFrame
    k: int
    stability: float


def cluster_customers(
    features: pd.DataFrame,
    *,
    k: int | None,
    k_range: Sequence[int],
    method: str,
    seed: int,
    stability_seeds: int,
    sample_size: int,
    revenue: str | None = None,
) -> Clustering:
    """Cluster customers on their behavioural features and describe the clusters.

    k is the given one, or the candidate with the best silhouette. The final fit uses all
    customers; stability is the mean pairwise ARI over ``stability_seeds`` refits.
    """
    scaled = scale_features(features)
    k_scores = score_k(scaled, k_range, method, seed, sample_size)
    chosen = int(k) if k is not None else int(k_scores.loc[k_scores["silhouette"].idxmax(), "k"])
    labels = pd.Series(fit_labels(scaled, chosen, method, seed), index=scaled.index)
    profile = profile_clusters(features, labels, revenue)
    names = name_clusters(profile)
    profile.insert(1, "name", profile["cluster"].map(names))
    assignments = pd.DataFrame({CUSTOMER_ID: scaled.index, "cluster": labels.to_numpy()}).assign(
        name=lambda frame: frame["cluster"].map(names)
    )
    stability = measure_stability(
        scaled, chosen, method, [seed + i for i in range(stability_seeds)]
    )
    return Clustering(assignments, profile, k_scores, chosen, stability)


def agree_with_truth(assignments: pd.DataFrame, truth: pd.DataFrame, column: str) -> float:
    """Adjusted Rand index between clusters and known segments (e.g. simulator truth)."""
    joined = assignments.merge(truth[[CUSTOMER_ID, column]], on=CUSTOMER_ID, how="inner")
    if joined.empty:
        raise DataValidationError("no customer is both clustered and in the truth table")
    return float(adjusted_rand_score(joined[column].astype(str), joined["cluster"]))
