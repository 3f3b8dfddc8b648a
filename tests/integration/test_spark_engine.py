"""The same feature definitions on DuckDB and on Spark.

One simulated log goes through DuckDB (a pandas frame), DuckDB (an Ibis table over its
Parquet file) and Spark (``local[2]``, an Ibis table over the same file); the training
tables must agree on every snapshot, label and feature (floats to 1e-9) and on the dtypes
after the builder's casting. Every Spark test lives in this file: one session serves the
whole test session (tests/integration/conftest.py).
"""

import warnings

import ibis
import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from behaviorlab.apps.common import to_plain
from behaviorlab.data.simulator import write_simulation
from behaviorlab.data.validation import DataQualityWarning
from behaviorlab.engines import connect_engine, events_from_parquet
from behaviorlab.errors import ConfigError
from behaviorlab.features.builder import build_training_table
from tests.helpers import compose_config

pytestmark = pytest.mark.slow
SparkSession = pytest.importorskip(
    "pyspark.sql", reason="PySpark is not installed: pip install -e '.[spark]'"
).SparkSession

SIM = {"n_customers": 400, "seed": 3, "start": "2024-01-01", "end": "2025-06-30"}


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    """The simulated events (Parquet file and frame) and customers."""
    folder = tmp_path_factory.mktemp("spark_sim")
    write_simulation(out_dir=folder, **SIM)
    path = folder / "events.parquet"
    return path, pd.read_parquet(path), pd.read_parquet(folder / "customers.parquet")


def task_and_features(task: str) -> tuple[dict, dict]:
    """The task's config and the default feature spec, composed as the train app does."""
    cfg = compose_config("train", [f"task={task}"])
    return to_plain(cfg.task), to_plain(cfg.features)


def build_three_ways(sim, spark_engine, task_name: str) -> dict:
    """The task's training table from a frame, from DuckDB over Parquet, from Spark."""
    path, events, customers = sim
    task, features = task_and_features(task_name)
    inputs = {
        "duckdb_frame": events,
        "duckdb_parquet": events_from_parquet(connect_engine({"kind": "duckdb"}), path),
        "spark_parquet": events_from_parquet(spark_engine, path),
    }
    with warnings.catch_warnings():  # e.g. a dropped duplicate feature: the same on each
        warnings.simplefilter("ignore", DataQualityWarning)
        return {
            name: build_training_table(table, customers, task, features)
            for name, table in inputs.items()
        }


def assert_same_tables(tables: dict) -> None:
    """Every table equals the frame-built one: rows, keys, labels, features and dtypes."""
    want = tables["duckdb_frame"]
    for got in tables.values():
        assert got.resolved_features == want.resolved_features
        assert got.feature_names == want.feature_names
        pdt.assert_series_equal(got.frame.dtypes, want.frame.dtypes)
        pdt.assert_frame_equal(got.frame, want.frame, check_exact=False, rtol=1e-9, atol=1e-9)


@pytest.fixture(scope="module")
def churn_tables(sim, spark_engine):
    return build_three_ways(sim, spark_engine, "churn")


def test_churn_training_table_is_the_same_on_duckdb_and_spark(churn_tables):
    assert_same_tables(churn_tables)
    frame = churn_tables["spark_parquet"].frame
    assert len(frame) > 1000
    assert frame["cutoff"].nunique() > 10
    assert set(frame["label"]) == {0, 1}
    assert len(churn_tables["spark_parquet"].feature_names) > 60
    # the families Spark could get wrong are exercised, not just all missing
    for name in ("gap_std_days", "purchase_gap_std_days", "monetary_mean", "share_weekend"):
        assert frame[name].notna().sum() > 100, name
    # the weekly slope is a sum of (3.5 - week) / 42: a multiple of 1/84, unless an engine
    # rounds the weights (Spark's decimal literals did)
    slope = frame["activity_slope_8w"].to_numpy() * 84
    assert np.abs(slope - np.round(slope)).max() < 1e-9


def test_conversion_training_table_is_the_same_on_duckdb_and_spark(sim, spark_engine):
    tables = build_three_ways(sim, spark_engine, "conversion")
    assert_same_tables(tables)
    frame = tables["spark_parquet"].frame
    assert frame["customer_id"].is_unique  # one snapshot per customer, at signup + 14 days
    assert len(frame) > 200


def test_spark_releases_the_tables_a_build_cached(churn_tables, spark_engine):
    session = SparkSession.getActiveSession()
    views = [t.name for t in session.catalog.listTables()]
    assert not [v for v in views if v.startswith(("ibis_cached", "ibis_inputs"))]
    assert session.conf.get("spark.sql.session.timeZone") == "UTC"


def test_master_null_uses_the_active_session_and_refuses_startup_settings(spark_engine):
    session = SparkSession.getActiveSession()
    before = session.conf.get("spark.sql.shuffle.partitions")
    con = connect_engine(
        {"kind": "spark", "master": None, "conf": {"spark.sql.shuffle.partitions": 3}}
    )
    try:
        assert con.list_tables() == spark_engine.list_tables()
        assert session.conf.get("spark.sql.shuffle.partitions") == "3"
        assert session.conf.get("spark.sql.session.timeZone") == "UTC"
    finally:
        session.conf.set("spark.sql.shuffle.partitions", before)
    with pytest.raises(ConfigError, match=r"spark\.driver\.memory"):
        connect_engine({"kind": "spark", "master": None, "conf": {"spark.driver.memory": "64g"}})


def test_pandas_3_frames_round_trip_through_spark(spark_engine):
    frame = pd.DataFrame(
        {
            "customer_id": pd.array(["a", None, "ç"], dtype="str"),
            "timestamp": pd.Series(
                ["2024-01-01 10:00:00.123456", "2024-03-31 23:59:59.999999", None],
                dtype="datetime64[us]",
            ),
            "amount": [1.5, np.nan, 3.0],
            "n": [1, 2, 3],
        }
    )
    session = SparkSession.getActiveSession()
    back = session.createDataFrame(frame).toPandas()
    pdt.assert_frame_equal(back.astype(frame.dtypes.to_dict()), frame)
    through_ibis = spark_engine.to_pyarrow(ibis.memtable(frame)).to_pandas()
    pdt.assert_frame_equal(through_ibis.astype(frame.dtypes.to_dict()), frame)
