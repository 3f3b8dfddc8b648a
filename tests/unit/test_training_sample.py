"""The training sample keeps whole customers, holds the label share, respects its bound and
is the same on every run for a salt; with nothing configured it does nothing."""

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from behaviorlab.errors import ConfigError
from behaviorlab.modeling.gate_holdout import carve_gate_holdout
from behaviorlab.modeling.sampling import apply_training_sample

N_CUSTOMERS = 4000


def training_table(n_customers: int = N_CUSTOMERS, seed: int = 0) -> pd.DataFrame:
    """1 to 6 monthly snapshots per customer; labels drawn from a per-customer propensity,
    so most customers are all-negative, some all-positive and some mixed."""
    rng = np.random.default_rng(seed)
    snapshots = rng.integers(1, 7, n_customers)
    owner = np.repeat(np.arange(n_customers), snapshots)
    first = np.concatenate([[0], np.cumsum(snapshots)[:-1]])
    month = np.arange(len(owner)) - np.repeat(first, snapshots)
    propensity = rng.beta(0.6, 2.4, n_customers)
    return pd.DataFrame(
        {
            "customer_id": pd.Series([f"c{i:05d}" for i in owner], dtype="str"),
            "cutoff": pd.Timestamp("2024-01-01") + pd.to_timedelta(month * 30, unit="D"),
            "label": (rng.random(len(owner)) < propensity[owner]).astype("int64"),
            "x": rng.normal(size=len(owner)),
        }
    )


TABLE = training_table()


def rows_per_customer(frame: pd.DataFrame) -> pd.Series:
    return frame.groupby("customer_id").size()


def any_positive_share(frame: pd.DataFrame) -> float:
    return float(frame.groupby("customer_id")["label"].max().mean())


@pytest.mark.parametrize("cfg", [None, {}, {"fraction": None, "max_rows": None, "salt": "sample"}])
def test_nothing_configured_is_a_no_op(cfg):
    frame, record = apply_training_sample(TABLE, cfg)
    assert frame is TABLE
    assert not record.applied
    assert record.rows_after == record.rows_before == len(TABLE)
    assert record.customers_after == record.customers_before == N_CUSTOMERS
    assert record.fraction == 1.0


def test_a_fraction_keeps_whole_customers_from_each_stratum():
    frame, record = apply_training_sample(TABLE, {"fraction": 0.2, "salt": "sample"})
    kept = rows_per_customer(frame)
    pdt.assert_series_equal(kept, rows_per_customer(TABLE).loc[kept.index])
    assert record.applied
    assert record.customers_after == len(kept)
    assert abs(record.customers_after - 0.2 * N_CUSTOMERS) <= 1
    assert record.rows_after == len(frame) < record.rows_before
    assert record.fraction == pytest.approx(len(kept) / N_CUSTOMERS)
    assert record.params()["training.sample.rows_after"] == len(frame)


@pytest.mark.parametrize("fraction", [0.05, 0.2, 0.5])
def test_the_positive_share_stays_within_sampling_noise(fraction):
    """The share of customers with a positive is kept to one customer per stratum. The row
    share of positives moves only by the noise of drawing whole customers within a stratum:
    its standard error is that of a ratio estimator over a cluster sample,
    sqrt((1 - f) / n) * sd(positives - p * rows) / mean(rows) per stratum, combined by
    stratum weight. Four standard errors bound a deviation that a correct sampler exceeds
    about once in 16,000 draws; a sampler ignoring labels or splitting customers fails."""
    frame, record = apply_training_sample(TABLE, {"fraction": fraction, "salt": "sample"})
    assert abs(any_positive_share(frame) - any_positive_share(TABLE)) <= 1 / len(
        rows_per_customer(frame)
    )
    per = TABLE.groupby("customer_id")["label"].agg(rows="size", positives="sum")
    per["stratum"] = per["positives"] > 0
    share = record.positive_share_before
    variance = 0.0
    for _, group in per.groupby("stratum"):
        weight = group["rows"].sum() / per["rows"].sum()
        residual = group["positives"] - share * group["rows"]
        sampled = fraction * len(group)
        se = np.sqrt((1 - fraction) / sampled) * residual.std() / group["rows"].mean()
        variance += (weight * se) ** 2
    assert abs(record.positive_share_after - share) < 4 * np.sqrt(variance)
    assert record.positive_share_after == pytest.approx(frame["label"].mean())


@pytest.mark.parametrize("max_rows", [500, 3001, 9999])
def test_max_rows_bounds_the_rows_to_within_one_customer(max_rows):
    frame, record = apply_training_sample(TABLE, {"max_rows": max_rows, "salt": "sample"})
    assert record.rows_after == len(frame) <= max_rows
    assert len(frame) > max_rows - rows_per_customer(TABLE).max()
    kept = rows_per_customer(frame)
    pdt.assert_series_equal(kept, rows_per_customer(TABLE).loc[kept.index])
    assert abs(any_positive_share(frame) - any_positive_share(TABLE)) < 2 / len(kept)


def test_max_rows_above_the_table_keeps_everything():
    frame, record = apply_training_sample(TABLE, {"max_rows": len(TABLE) + 1})
    assert len(frame) == len(TABLE)
    assert record.fraction == 1.0


def test_the_sample_is_the_same_for_a_salt_whatever_the_row_order():
    shuffled = TABLE.sample(frac=1.0, random_state=3).reset_index(drop=True)
    first, _ = apply_training_sample(TABLE, {"fraction": 0.3, "salt": "sample"})
    again, _ = apply_training_sample(shuffled, {"fraction": 0.3, "salt": "sample"})
    other, _ = apply_training_sample(TABLE, {"fraction": 0.3, "salt": "other"})
    ids = set(first["customer_id"])
    assert set(again["customer_id"]) == ids
    overlap = len(ids & set(other["customer_id"])) / len(ids)
    assert 0.2 < overlap < 0.4  # another salt draws anew: about 30 % in common


def test_sampling_after_the_gate_carve_never_touches_gate_customers():
    train, gate = carve_gate_holdout(TABLE, 0.15, "gate")
    sampled, record = apply_training_sample(train, {"fraction": 0.5, "salt": "sample"})
    assert set(sampled["customer_id"]).isdisjoint(gate["customer_id"])
    assert record.customers_before == train["customer_id"].nunique()
    # the sample is no function of gate membership: its share of customers is the same
    # among customers the gate holdout would and would not have taken
    full, _ = apply_training_sample(TABLE, {"fraction": 0.5, "salt": "sample"})
    in_gate = TABLE["customer_id"].drop_duplicates().isin(gate["customer_id"])
    kept = TABLE["customer_id"].drop_duplicates().isin(full["customer_id"])
    assert abs(kept[in_gate].mean() - kept[~in_gate].mean()) < 0.06


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"fraction": 0.5, "max_rows": 100}, "not both"),
        ({"fraction": 0.0}, r"fraction must be in \(0, 1\]"),
        ({"fraction": 1.5}, r"fraction must be in \(0, 1\]"),
        ({"max_rows": 0}, "max_rows must be a positive integer"),
        ({"max_rows": 1}, "not both labels: raise training.sample"),
    ],
)
def test_bad_settings_are_named(cfg, message):
    with pytest.raises(ConfigError, match=message):
        apply_training_sample(TABLE, cfg)
