"""Splits never share a customer across sides and respect time order."""

import numpy as np
import pandas as pd
import pytest

from behaviorlab.errors import ConfigError
from behaviorlab.modeling.splits import make_splits, split_customer_cv, split_out_of_time
from tests.unit.test_modeling_data import make_table

OUT_OF_TIME = {
    "kind": "out_of_time",
    "n_valid_cutoffs": 1,
    "n_test_cutoffs": 1,
    "held_out_fraction": 0.3,
}


def customers(table, rows):
    return set(table["customer_id"].iloc[rows])


def test_out_of_time_is_grouped_by_customer_and_ordered_in_time():
    table = make_table(n_customers=500, n_cutoffs=5)
    split = split_out_of_time(table, OUT_OF_TIME)
    held_out = customers(table, split.valid) | customers(table, split.test)
    assert not customers(table, split.train) & held_out
    cutoff = table["cutoff"]
    assert cutoff.iloc[split.train].max() < cutoff.iloc[split.valid].min()
    assert cutoff.iloc[split.valid].max() < cutoff.iloc[split.test].min()
    assert cutoff.iloc[split.test].nunique() == 1
    assert cutoff.iloc[split.test].iloc[0] == cutoff.max()
    assert 0.2 < len(held_out) / 500 < 0.4


def test_out_of_time_is_stable_across_calls():
    table = make_table(n_customers=300, n_cutoffs=4)
    first, second = split_out_of_time(table, OUT_OF_TIME), split_out_of_time(table, OUT_OF_TIME)
    np.testing.assert_array_equal(first.test, second.test)
    np.testing.assert_array_equal(first.train, second.train)


def test_out_of_time_with_one_cutoff_suggests_customer_cv():
    table = make_table(n_customers=100, n_cutoffs=1)
    with pytest.raises(ConfigError, match="split=customer_cv"):
        make_splits(table, OUT_OF_TIME)


def test_customer_cv_folds_partition_rows_and_never_share_customers():
    table = make_table(n_customers=400, n_cutoffs=2)
    folds = split_customer_cv(table, {"n_folds": 4, "valid_fraction": 0.2, "seed": 3})
    assert len(folds) == 4
    tested = np.concatenate([fold.test for fold in folds])
    assert sorted(tested) == list(range(len(table)))
    for fold in folds:
        parts = [customers(table, part) for part in (fold.train, fold.valid, fold.test)]
        assert not parts[0] & parts[1]
        assert not parts[0] & parts[2]
        assert not parts[1] & parts[2]
        assert len(fold.train) + len(fold.valid) + len(fold.test) == len(table)


def test_unknown_split_kind_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown split kind"):
        make_splits(make_table(50, 1), {"kind": "random"})


def test_gap_cutoffs_are_left_out_of_training():
    table = make_table(n_customers=200, n_cutoffs=6)
    split = split_out_of_time(table, OUT_OF_TIME | {"gap_cutoffs": 2})
    cutoffs = sorted(table["cutoff"].unique())
    assert table["cutoff"].iloc[split.train].max() == cutoffs[1]
    assert table["cutoff"].iloc[split.valid].min() == cutoffs[4]


def grid_table(cutoffs: list[str], n_customers: int = 200) -> pd.DataFrame:
    """Every customer at every cutoff; half the customers are positive at every cutoff."""
    stamps = pd.to_datetime(cutoffs).to_numpy().astype("datetime64[us]")
    return pd.DataFrame(
        {
            "customer_id": np.repeat([f"c{i}" for i in range(n_customers)], len(stamps)),
            "cutoff": np.tile(stamps, n_customers),
            "label": np.repeat(np.arange(n_customers) % 2, len(stamps)),
        }
    )


def test_training_labels_never_watch_the_validation_period():
    cutoffs = ["2024-01-01", "2024-02-01", "2024-03-01", "2024-03-20", "2024-04-10", "2024-05-20"]
    table = grid_table(cutoffs)
    cfg = {"kind": "out_of_time", "held_out_fraction": 0.3, "horizon_days": 30}
    split = split_out_of_time(table, cfg)
    valid_start = table["cutoff"].iloc[split.valid].min()
    train_cutoffs = table["cutoff"].iloc[split.train]
    assert valid_start == pd.Timestamp("2024-04-10")
    assert (train_cutoffs + pd.Timedelta(days=30) <= valid_start).all()
    assert sorted(train_cutoffs.unique()) == list(pd.to_datetime(cutoffs[:3]))


def test_overlapping_validation_and_test_labels_are_refused():
    cutoffs = pd.date_range("2024-01-01", periods=6, freq="28D").strftime("%Y-%m-%d").tolist()
    cfg = {"kind": "out_of_time", "held_out_fraction": 0.3, "horizon_days": 30}
    with pytest.raises(ConfigError, match="horizon apart"):
        split_out_of_time(grid_table(cutoffs), cfg)


def test_single_class_validation_is_refused_before_tuning():
    cutoffs = ["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"]
    table = grid_table(cutoffs).assign(label=0)
    with pytest.raises(ConfigError, match="one label class"):
        split_out_of_time(table, {"kind": "out_of_time", "held_out_fraction": 0.3})
