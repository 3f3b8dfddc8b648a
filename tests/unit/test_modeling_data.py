"""A synthetic training table with a known signal, shared by the modeling tests."""

import numpy as np
import pandas as pd

PLANS = ["basic", "pro", "team"]
FEATURES = ["days_since_last_event", "n_events_90d", "avg_amount", "plan", "noise"]
CATEGORICAL = ["plan"]


def make_table(n_customers: int = 1500, n_cutoffs: int = 3, seed: int = 0) -> pd.DataFrame:
    """customer_id, cutoff, label and features; churn rises with days since the last event."""
    rng = np.random.default_rng(seed)
    n = n_customers * n_cutoffs
    customers = np.tile([f"c{i:05d}" for i in range(n_customers)], n_cutoffs)
    cutoffs = np.repeat(pd.date_range("2024-01-01", periods=n_cutoffs, freq="MS"), n_customers)
    days = rng.exponential(30, n)
    events = rng.poisson(8, n).astype(float)
    events[rng.random(n) < 0.1] = np.nan
    plan = rng.choice(PLANS, n)
    logit = -1.0 + 0.04 * days - 0.4 * np.log1p(np.nan_to_num(events)) + (plan == "basic") * 0.8
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    plan_column = pd.Categorical(np.where(rng.random(n) < 0.05, None, plan), categories=PLANS)
    return pd.DataFrame(
        {
            "customer_id": pd.Series(customers, dtype="str"),
            "cutoff": pd.Series(cutoffs).astype("datetime64[us]"),
            "label": label,
            "days_since_last_event": days,
            "n_events_90d": events,
            "avg_amount": rng.lognormal(3, 1, n),
            "plan": plan_column,
            "noise": rng.normal(size=n),
        }
    )


def test_make_table_has_the_training_table_contract():
    table = make_table(200, 2)
    assert list(table.columns[:3]) == ["customer_id", "cutoff", "label"]
    assert table["cutoff"].dtype == "datetime64[us]"
    assert table["plan"].dtype == "category"
    assert 0.1 < table["label"].mean() < 0.9
    assert table.groupby("cutoff")["customer_id"].nunique().eq(200).all()
