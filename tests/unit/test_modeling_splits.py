"""Splits never share a customer across sides and respect time order."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from behaviorlab.errors import ConfigError
from behaviorlab.modeling.splits import make_splits, plan_customer_cv, split_out_of_time
from tests.unit.test_modeling_data import make_table

CONF = Path(__file__).resolve().parents[2] / "conf"

PARTS = ("train", "valid", "calibrate", "test")
# conf/split/out_of_time.yaml's values, for a task without a label horizon.
OUT_OF_TIME = {
    "kind": "out_of_time",
    "snapshots": "calendar",
    "n_valid_cutoffs": 1,
    "n_test_cutoffs": 1,
    "gap_cutoffs": 0,
    "held_out_fraction": 0.3,
    "valid_share": 0.2,
    "test_share": 0.2,
    "horizon_days": None,
    "calibration_share": 0.5,
    "salt": "split",
    "seed": 7,
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


CV = {
    "kind": "customer_cv",
    "n_folds": 4,
    "tuning_fraction": 0.2,
    "valid_fraction": 0.2,
    "calibration_share": 0.5,
    "seed": 3,
}


def test_customer_cv_folds_partition_rows_and_never_share_customers():
    table = make_table(n_customers=400, n_cutoffs=2)
    plan = plan_customer_cv(table, CV)
    assert len(plan.folds) == 4
    tested = plan.test_rows()
    assert len(tested) == len(set(tested))
    assert sorted(np.concatenate([tested, plan.tuning_rows()])) == list(range(len(table)))
    for fold in plan.folds:
        parts = [customers(table, getattr(fold, part)) for part in PARTS]
        for number, part in enumerate(parts):
            assert part
            assert not any(part & other for other in parts[number + 1 :])
        assert sum(len(getattr(fold, part)) for part in PARTS) == len(table)


def test_customer_cv_tunes_on_customers_no_fold_tests():
    table = make_table(n_customers=400, n_cutoffs=2)
    plan = plan_customer_cv(table, CV)
    tuning = customers(table, plan.tuning_rows())
    assert 0.1 < len(tuning) / 400 < 0.3
    assert not tuning & customers(table, plan.test_rows())
    assert not customers(table, plan.tuning.train) & customers(table, plan.tuning.valid)
    assert len(plan.tuning.test) == len(plan.tuning.calibrate) == 0
    for fold in plan.folds:
        learning = np.concatenate([fold.train, fold.valid, fold.calibrate])
        assert set(plan.tuning_rows()) <= set(learning)


def test_out_of_time_calibrates_on_other_customers_than_early_stopping():
    table = make_table(n_customers=600, n_cutoffs=4)
    plan = make_splits(table, OUT_OF_TIME)
    (fold,) = plan.folds
    assert len(fold.calibrate) > 50
    assert len(fold.valid) > 50
    assert not customers(table, fold.valid) & customers(table, fold.calibrate)
    assert table["cutoff"].iloc[fold.calibrate].max() < table["cutoff"].iloc[fold.test].min()
    np.testing.assert_array_equal(plan.tuning.valid, fold.valid)
    assert not set(plan.tuning_rows()) & set(fold.calibrate)
    assert not set(plan.tuning_rows()) & set(plan.test_rows())


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
    cfg = OUT_OF_TIME | {"horizon_days": 30}
    split = split_out_of_time(table, cfg)
    valid_start = table["cutoff"].iloc[split.valid].min()
    train_cutoffs = table["cutoff"].iloc[split.train]
    assert valid_start == pd.Timestamp("2024-04-10")
    assert (train_cutoffs + pd.Timedelta(days=30) <= valid_start).all()
    assert sorted(train_cutoffs.unique()) == list(pd.to_datetime(cutoffs[:3]))


def test_overlapping_validation_and_test_labels_are_refused():
    cutoffs = pd.date_range("2024-01-01", periods=6, freq="28D").strftime("%Y-%m-%d").tolist()
    cfg = OUT_OF_TIME | {"horizon_days": 30}
    with pytest.raises(ConfigError, match="horizon apart"):
        split_out_of_time(grid_table(cutoffs), cfg)


def test_single_class_validation_is_refused_before_tuning():
    cutoffs = ["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"]
    table = grid_table(cutoffs).assign(label=0)
    with pytest.raises(ConfigError, match="one label class"):
        split_out_of_time(table, OUT_OF_TIME)


def relative_table(days: int, n_customers: int = 3000, seed: int = 0) -> pd.DataFrame:
    """One snapshot per customer on its own date (signup + N days) spread over ``days``."""
    rng = np.random.default_rng(seed)
    offsets = pd.to_timedelta(rng.integers(0, days, n_customers), unit="D")
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n_customers)],
            "cutoff": (pd.Timestamp("2024-01-01") + offsets).astype("datetime64[us]"),
            "label": rng.integers(0, 2, n_customers),
        }
    )


def out_of_time_config(snapshots: str, horizon_days: int) -> dict:
    """conf/split/out_of_time.yaml resolved against a task with these snapshots."""
    split = OmegaConf.load(CONF / "split" / "out_of_time.yaml")
    del split["defaults"]
    root = OmegaConf.create(
        {
            "seed": 7,
            "task": {"horizon_days": horizon_days, "snapshots": {"kind": snapshots}},
            "split": split,
        }
    )
    return OmegaConf.to_container(root, resolve=True)["split"]


def test_relative_snapshots_are_split_by_date_with_purged_label_windows():
    once = relative_table(days=540)
    again = once.head(300).assign(cutoff=once["cutoff"].head(300) + pd.Timedelta(days=200))
    table = pd.concat([once, again], ignore_index=True)
    assert table["cutoff"].nunique() > 500
    (fold,) = make_splits(table, out_of_time_config("relative", 30)).folds
    cutoff = table["cutoff"]
    horizon = pd.Timedelta(days=30)
    assert (cutoff.iloc[fold.train] + horizon).max() <= cutoff.iloc[fold.valid].min()
    assert (cutoff.iloc[fold.valid] + horizon).max() <= cutoff.iloc[fold.test].min()
    assert (cutoff.iloc[fold.calibrate] + horizon).max() <= cutoff.iloc[fold.test].min()
    assert cutoff.iloc[fold.test].max() == cutoff.max()
    assert 0.15 < len(fold.test) / len(table) < 0.25
    assert len(fold.train) > len(fold.valid) > 50
    held_out = customers(table, fold.valid) | customers(table, fold.test)
    assert not customers(table, fold.train) & held_out


def test_relative_snapshots_too_short_a_span_name_the_span_and_horizon():
    with pytest.raises(ConfigError, match=r"snapshot dates .*40 days.* too short a span"):
        make_splits(relative_table(days=41), out_of_time_config("relative", 30))


def test_per_customer_cutoffs_split_as_calendar_cutoffs_point_to_relative_split():
    with pytest.raises(ConfigError, match=r"split\.snapshots=relative"):
        make_splits(relative_table(days=540), out_of_time_config("calendar", 30))
