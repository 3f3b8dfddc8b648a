"""Staging: a log read in many small batches lands exactly as an in-memory load, with the
same fingerprint, the same duplicate handling and messages naming rows of the source."""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from behaviorlab.data import readers
from behaviorlab.data.sources import load_dataset, load_events
from behaviorlab.data.staging import staging_folder, staging_scope
from behaviorlab.data.validation import DataQualityWarning
from behaviorlab.errors import DataValidationError

NOW = pd.Timestamp("2024-06-30")
N_ROWS = 500


def raw_log(n_rows: int = N_ROWS, seed: int = 0) -> pd.DataFrame:
    """A small log in the user's own column names, with nulls and a property column."""
    rng = np.random.default_rng(seed)
    stamps = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 150, n_rows), "D")
    return pd.DataFrame(
        {
            "user": rng.integers(1, 60, n_rows).astype(str),
            "ts": stamps + pd.to_timedelta(rng.integers(0, 86_400, n_rows), "s"),
            "action": rng.choice(["view", "purchase", "support_contact"], n_rows),
            "price": np.where(rng.random(n_rows) < 0.5, np.nan, rng.gamma(2.0, 20.0, n_rows)),
            "platform": rng.choice(["ios", "web", None], n_rows),
        }
    )


MAPPING = {"customer_id": "user", "timestamp": "ts", "event": "action", "amount": "price"}


def data_config(path, **validation) -> dict:
    return {
        "name": "log",
        "events": {"path": str(path), "format": "parquet", "columns": MAPPING},
        "customers": {"from_events": ["platform"]},
        "validation": {"future_tolerance": "1d", **validation},
    }


@pytest.fixture
def small_batches(monkeypatch):
    """Readers cut every source into batches of 64 rows (the default is a million)."""
    monkeypatch.setattr(readers, "BATCH_ROWS", 64)


def test_batched_staging_equals_an_in_memory_load(tmp_path, small_batches):
    path = tmp_path / "events.parquet"
    raw_log().to_parquet(path)
    dataset = load_dataset(data_config(path), now=NOW, staging_root=tmp_path / "staging")
    in_memory = load_events(data_config(path)["events"], now=NOW)
    staged = dataset.events.to_pyarrow().to_pandas()
    assert_frame_equal(staged, in_memory)
    assert dataset.event_rows == N_ROWS
    assert dataset.data_start == in_memory["timestamp"].min()
    assert dataset.data_end == in_memory["timestamp"].max()
    first_platform = in_memory.dropna(subset="platform").sort_values("timestamp", kind="stable")
    expected = first_platform.groupby("customer_id")["platform"].first()
    assert dataset.customers.set_index("customer_id")["platform"].astype(str).to_dict() == (
        expected.to_dict()
    )


def test_fingerprint_does_not_depend_on_the_batch_size(tmp_path, monkeypatch):
    path = tmp_path / "events.parquet"
    raw_log().to_parquet(path)
    whole = load_dataset(data_config(path), now=NOW).fingerprint
    monkeypatch.setattr(readers, "BATCH_ROWS", 37)
    assert load_dataset(data_config(path), now=NOW).fingerprint == whole
    changed = raw_log()
    changed.loc[N_ROWS - 1, "price"] = 1.0
    changed.to_parquet(path)
    assert load_dataset(data_config(path), now=NOW).fingerprint != whole


def test_duplicates_across_batches_are_found_and_dropped(tmp_path, small_batches):
    log = raw_log()
    repeated = pd.concat([log, log.iloc[[3, 10]]], ignore_index=True)
    path = tmp_path / "events.parquet"
    repeated.to_parquet(path)
    with pytest.warns(DataQualityWarning, match=r"2 of 502 rows duplicate .* rows 500, 501"):
        kept = load_dataset(data_config(path), now=NOW)
    assert kept.event_rows == 502
    with pytest.warns(DataQualityWarning, match="were dropped"):
        dropped = load_dataset(data_config(path, drop_duplicates=True), now=NOW)
    assert dropped.event_rows == N_ROWS
    log.to_parquet(path)
    assert dropped.fingerprint == load_dataset(data_config(path), now=NOW).fingerprint


def test_a_bad_row_in_a_later_batch_is_named_by_its_source_row(tmp_path, small_batches):
    log = raw_log()
    log["ts"] = log["ts"].astype(str)
    log.loc[300, "ts"] = "not a time"
    path = tmp_path / "events.parquet"
    log.to_parquet(path)
    with pytest.raises(DataValidationError, match=r"'ts' \(timestamp\).*row 300 'not a time'"):
        load_dataset(data_config(path), now=NOW)


def test_folders_of_dead_processes_are_removed(tmp_path):
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    abandoned = tmp_path / f"{finished.stdout.strip()}-abc"
    abandoned.mkdir()
    mine = staging_folder(tmp_path)
    assert not abandoned.exists()
    assert mine.exists()
    assert mine.name.startswith(f"{os.getpid()}-")


def test_a_scope_removes_only_the_folders_made_inside_it(tmp_path):
    outer = staging_folder(tmp_path)
    with staging_scope():
        inner = staging_folder(tmp_path)
        with staging_scope():
            innermost = staging_folder(tmp_path)
        assert not innermost.exists()
        assert inner.exists()
    assert not inner.exists()
    assert outer.exists()


def test_refused_data_leaves_no_staged_file(tmp_path):
    log = raw_log()
    log.loc[3, "user"] = None
    path = tmp_path / "events.parquet"
    log.to_parquet(path)
    with pytest.raises(DataValidationError, match="customer_id"):
        load_dataset(data_config(path), now=NOW, staging_root=tmp_path / "staging")
    assert not list((tmp_path / "staging").rglob("*.parquet"))
