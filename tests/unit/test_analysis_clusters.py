"""Behavioural clustering: scaling, k choice, profiles, names, stability, truth ARI."""

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from behaviorlab.analysis import clusters
from behaviorlab.analysis.behaviour import summarize_behaviour
from behaviorlab.errors import ConfigError

# conf/analysis/clusters.yaml's values.
CLUSTERING = {
    "k": None,
    "k_range": [2, 3, 4, 5, 6, 7, 8],
    "method": "kmeans",
    "seed": 7,
    "stability_seeds": 3,
    "sample_size": 3000,
}


@pytest.fixture
def features():
    """Three clear groups: heavy spenders, frequent browsers, dormant customers."""
    rng = np.random.default_rng(0)
    n = 40
    groups = {
        "spender": (5, 2000.0, 3),
        "browser": (200, 10.0, 2),
        "dormant": (2, 5.0, 200),
    }
    frames = [
        pd.DataFrame(
            {
                "customer_id": [f"{name}_{i:02d}" for i in range(n)],
                "events": rng.poisson(events, n) + 1,
                "revenue": rng.normal(revenue, revenue / 10, n).clip(0),
                "days_since_last_event": rng.normal(days, days / 10 + 1, n).clip(0),
                "segment": name,
            }
        )
        for name, (events, revenue, days) in groups.items()
    ]
    return pd.concat(frames, ignore_index=True)


def test_scale_features_logs_standardises_and_drops_constants():
    frame = pd.DataFrame(
        {"customer_id": ["a", "b", "c"], "x": [0.0, np.e - 1, np.nan], "flat": [1, 1, 1]}
    )
    scaled = clusters.scale_features(frame)
    assert list(scaled.columns) == ["x"]
    # log1p -> [0, 1, median 0.5]; standardised
    expected = pd.DataFrame({"x": [-1.224745, 1.224745, 0.0]}, index=pd.Index(["a", "b", "c"]))
    assert_frame_equal(scaled, expected.rename_axis("customer_id"), atol=1e-6)


def test_recovers_planted_groups_with_names_and_stability(features):
    outcome = clusters.cluster_customers(
        features.drop(columns="segment"),
        **CLUSTERING | {"k_range": [2, 3, 4, 5], "seed": 1},
        revenue="revenue",
    )
    assert outcome.k == 3
    assert outcome.stability == pytest.approx(1.0)
    ari = clusters.agree_with_truth(outcome.assignments, features, "segment")
    assert ari == pytest.approx(1.0)
    profile = outcome.profile.set_index("name")
    assert profile["customers"].tolist() == [40, 40, 40]
    assert profile["revenue_share"].sum() == pytest.approx(1.0)
    spender = profile.loc[profile["mean_revenue"].idxmax()]
    assert "high revenue" in spender.name
    assert spender["z_revenue"] > 1
    assert outcome.profile["name"].is_unique


def test_k_given_and_gaussian_mixture(features):
    outcome = clusters.cluster_customers(
        features.drop(columns="segment"),
        **CLUSTERING | {"k": 2, "k_range": [2, 3], "method": "gmm", "seed": 0},
    )
    assert outcome.k == 2
    assert outcome.assignments["cluster"].nunique() == 2
    with pytest.raises(ConfigError, match="method"):
        clusters.fit_labels(
            clusters.scale_features(features.drop(columns="segment")), 2, "dbscan", 0
        )


def test_sample_is_seeded_bounded_and_keeps_order(features):
    sample = clusters.sample_customers(features, 50, seed=7)
    assert len(sample) == 50
    assert sample["customer_id"].is_unique
    assert set(sample["customer_id"]) < set(features["customer_id"])
    order = features.reset_index().set_index("customer_id").loc[sample["customer_id"], "index"]
    assert order.is_monotonic_increasing
    assert_frame_equal(sample, clusters.sample_customers(features, 50, seed=7))
    assert not sample.equals(clusters.sample_customers(features, 50, seed=8))
    assert clusters.sample_customers(features, 120, seed=7) is features
    with pytest.raises(ConfigError, match="at least 1"):
        clusters.sample_customers(features, 0, seed=7)


def test_name_clusters_adds_terms_until_names_differ():
    profile = pd.DataFrame(
        {"cluster": [0, 1], "z_spend": [2.0, 2.0], "z_visits": [0.5, -0.5], "z_age": [0.1, 0.1]}
    )
    names = clusters.name_clusters(profile, n_terms=1)
    assert names.to_dict() == {0: "high spend, high visits", 1: "high spend, low visits"}


def test_behaviour_features_before_cutoff():
    events = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b"],
            "timestamp": pd.to_datetime(
                ["2024-01-01 10:00", "2024-01-01 11:00", "2024-01-03 00:00", "2024-01-09 00:00"]
            ).astype("datetime64[us]"),
            "event": ["view", "purchase", "view", "view"],
            "amount": [None, 30.0, None, None],
        }
    )
    summary = summarize_behaviour(events, pd.Timestamp("2024-01-05"))
    expected = pd.DataFrame(
        {
            "customer_id": ["a"],
            "events": [3],
            "active_days": [2],
            "purchases": [1],
            "revenue": [30.0],
            "event_types": [2],
            "events_per_active_day": [1.5],
            "tenure_days": [4 - 10 / 24],
            "days_since_last_event": [2.0],
        }
    )
    assert_frame_equal(summary, expected, check_dtype=False)
