"""The same feature definitions on DuckDB and on Spark.

One simulated log goes through DuckDB (a pandas frame), DuckDB (an Ibis table over its
Parquet file) and Spark (``local[2]``, an Ibis table over the same file); the training
tables must agree on every snapshot, label and feature (floats to 1e-9) and on the dtypes
after the builder's casting. Every Spark test lives in this file: one session serves the
whole test session (tests/integration/conftest.py).
"""

import shutil
import warnings
from pathlib import Path

import duckdb
import ibis
import mlflow
import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest
from mlflow.tracking import MlflowClient

from behaviorlab.apps import score, train
from behaviorlab.apps.common import compose_app, open_dataset, to_plain
from behaviorlab.data.simulator import write_simulation
from behaviorlab.data.validation import DataQualityWarning
from behaviorlab.engines import connect_engine, events_from_parquet
from behaviorlab.errors import ConfigError
from behaviorlab.features.builder import build_training_table
from behaviorlab.scoring.batch import default_cutoff, score_to_file, scoring_snapshots
from behaviorlab.scoring.predict import tiers_by_capacity
from behaviorlab.tracking.models import load_behavior_model
from tests.helpers import compose_config, small_sim_overrides, train_small_version
from tests.integration.test_bad_inputs import (
    REFUSED,
    assert_nothing_logged,
    assert_one_error_line,
)

pytestmark = pytest.mark.slow
SparkSession = pytest.importorskip(
    "pyspark.sql", reason="PySpark is not installed: pip install -e '.[spark]'"
).SparkSession
from behaviorlab.scoring.spark import (  # noqa: E402  (needs PySpark)
    CapacityTiers,
    capacity_boundaries,
    move_into_place,
    score_on_spark,
)

SIM = {"n_customers": 400, "seed": 3, "start": "2024-01-01", "end": "2025-06-30"}
EVERY_DISENGAGEMENT_PART = ("gaps", "purchases", "sessions")  # off by default


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    """The simulated events (Parquet file and frame) and customers."""
    folder = tmp_path_factory.mktemp("spark_sim")
    write_simulation(out_dir=folder, **SIM)
    path = folder / "events.parquet"
    return path, pd.read_parquet(path), pd.read_parquet(folder / "customers.parquet")


def task_and_features(task: str, features: list[str]) -> tuple[dict, dict]:
    """The task's config and the feature spec, composed as the train app does."""
    cfg = compose_config("train", [f"task={task}", *features])
    return to_plain(cfg.task), to_plain(cfg.features)


def build_three_ways(sim, spark_engine, task_name: str, features: list[str] = ()) -> dict:
    """The task's training table from a frame, from DuckDB over Parquet, from Spark."""
    path, events, customers = sim
    task, features = task_and_features(task_name, list(features))
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
    """With every optional part of the disengagement family (session rhythm and recency,
    decayed purchases), which the default spec leaves off."""
    every_part = [f"features.disengagement.{part}=true" for part in EVERY_DISENGAGEMENT_PART]
    tables = build_three_ways(sim, spark_engine, "conversion", every_part)
    assert_same_tables(tables)
    assert tables["spark_parquet"].frame["silence_in_session_gaps"].notna().sum() > 100
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


# Scoring on Spark ---------------------------------------------------------------------------

SPARK_SCORING = ["engine=spark", "engine.master=null", "engine.conf=null"]  # the test session


def score_config(data_dir, out, *extra: str):
    """The score app on the session's small simulation; one DuckDB partition holds every
    customer, so DuckDB ranks tied probabilities by customer id and cutoff, as Spark does."""
    overrides = [*small_sim_overrides(data_dir), f"output.path={out}", "progress=false"]
    return compose_config("score", [*overrides, "partition_customers=1000000", *extra])


def comparable(scores: pd.DataFrame) -> pd.DataFrame:
    """Scores sorted by key with one dtype per kind of column, whichever engine wrote them."""
    numeric = [c for c in scores if c.endswith(("probability", "contribution"))]
    text = [c for c in scores if c not in {*numeric, "cutoff", "scored_at"}]
    typed = scores.drop(columns="scored_at").astype(
        dict.fromkeys(numeric, "Float64") | dict.fromkeys(text, "string")
    )
    return typed.sort_values(["customer_id", "cutoff"], ignore_index=True)


def partly_tied_boundaries(scores: pd.DataFrame) -> list[str]:
    """Capacity tiers whose lowest probability is shared with rows of a lower tier."""
    tied = []
    for tier in ("high", "medium"):
        lowest = scores.loc[scores["tier"] == tier, "probability"].min()
        if (scores.loc[scores["tier"] != tier, "probability"] == lowest).any():
            tied.append(tier)
    return tied


@pytest.fixture(scope="module")
def registered_store(small_sim_dir, tmp_path_factory) -> Path:
    """A store holding churn-sim v1, trained once for the module on the small simulation.

    Without the disengagement family: its continuous recency and decayed counts leave no
    tied probabilities at the capacity boundaries, which the scoring test needs."""
    root = tmp_path_factory.mktemp("registered")
    store = root / "mlruns" / "mlflow.db"
    store.parent.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
            patch.setenv(name, f"sqlite:///{store}")
        patch.setenv("BEHAVIORLAB_ROOT", str(root))
        assert train_small_version(small_sim_dir, "features.disengagement=false")["promoted"]
    return store


@pytest.fixture
def registered(registered_store, mlflow_store):
    """This test's store starts as a copy of the registered one (artifacts stay shared)."""
    shutil.copy(registered_store, mlflow_store.removeprefix("sqlite:///"))
    mlflow.set_tracking_uri(mlflow_store)
    mlflow.set_registry_uri(mlflow_store)


def test_scores_are_the_same_on_duckdb_and_spark(registered, small_sim_dir, spark_engine, tmp_path):
    duckdb_path, spark_path = tmp_path / "duckdb.parquet", tmp_path / "spark.parquet"
    on_duckdb = score.run(score_config(small_sim_dir, duckdb_path))
    database = tmp_path / "scores.duckdb"
    into_duckdb = f"output.duckdb={{database:'{database}',table:scores}}"
    on_spark = score.run(score_config(small_sim_dir, spark_path, into_duckdb, *SPARK_SCORING))

    assert list(spark_path.glob("part-*.parquet"))  # a folder of Parquet files
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    duckdb_scores, spark_scores = pd.read_parquet(duckdb_path), pd.read_parquet(spark_path)
    assert list(spark_scores.columns) == list(duckdb_scores.columns)
    assert spark_scores["scored_at"].dtype == duckdb_scores["scored_at"].dtype
    pdt.assert_frame_equal(
        comparable(spark_scores), comparable(duckdb_scores), check_exact=False, rtol=1e-9, atol=1e-9
    )
    assert len(spark_scores) == on_spark["rows"] == on_duckdb["rows"] > 1000
    with duckdb.connect(str(database), read_only=True) as con:
        assert con.execute("select count(*) from scores").fetchone()[0] == len(spark_scores)
    assert spark_scores["reason_1"].notna().sum() > 100
    # both capacity boundaries fall inside a run of tied probabilities: the tie order matters
    assert partly_tied_boundaries(duckdb_scores) == ["high", "medium"]
    assert on_spark["tiers"] == on_duckdb["tiers"]
    for spark_tier, duckdb_tier in zip(
        on_spark["tier_summary"], on_duckdb["tier_summary"], strict=True
    ):
        assert spark_tier["expected"] == pytest.approx(duckdb_tier["expected"], rel=1e-9)

    client = MlflowClient()
    experiment = client.get_experiment_by_name("scoring").experiment_id
    by_engine = {run.data.params["engine"]: run for run in client.search_runs([experiment])}
    assert set(by_engine) == {"duckdb", "spark"}
    spark_metrics, duckdb_metrics = (
        by_engine["spark"].data.metrics,
        by_engine["duckdb"].data.metrics,
    )
    assert spark_metrics.keys() == duckdb_metrics.keys()
    for name, value in duckdb_metrics.items():  # drift on every row: fewer than the sample
        assert spark_metrics[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
    assert "drift.sample_rows" not in by_engine["spark"].data.tags


def test_threshold_tiers_take_one_pass_and_drift_is_measured_on_a_sample(
    registered, small_sim_dir, spark_engine, tmp_path
):
    model, spec = load_behavior_model("models:/churn-sim/1")
    thresholds = {"mode": "thresholds", "high": 0.6, "medium": 0.3}
    spec = spec | {"scoring": spec["scoring"] | {"tiers": thresholds}}
    on_duckdb = open_dataset(compose_config("score", small_sim_overrides(small_sim_dir)))
    on_spark = open_dataset(
        compose_config("score", [*small_sim_overrides(small_sim_dir), *SPARK_SCORING])
    )
    cutoff = default_cutoff(on_duckdb.events)
    snapshots = scoring_snapshots(on_duckdb.events, on_duckdb.customers, spec["task"], cutoff)
    common = {  # several DuckDB partitions and several Arrow batches per Spark task
        "chunk_size": 300,
        "reason_tiers": ["high", "medium"],
        "extra": {"model_version": "1"},
        "psi_warn": 0.2,
    }
    duckdb_path, spark_path = tmp_path / "duckdb.parquet", tmp_path / "spark.parquet"
    by_duckdb = score_to_file(
        model, spec, on_duckdb.events, on_duckdb.customers, snapshots, duckdb_path,
        progress=False, **common,
    )  # fmt: skip
    by_spark = score_on_spark(
        model, spec, on_spark.events, on_spark.customers, snapshots, spark_path,
        drift_rows=400, **common,
    )  # fmt: skip

    spark_scores = pd.read_parquet(spark_path).assign(scored_at=None)
    duckdb_scores = pd.read_parquet(duckdb_path).assign(scored_at=None)
    pdt.assert_frame_equal(
        comparable(spark_scores), comparable(duckdb_scores), check_exact=False, rtol=1e-9, atol=1e-9
    )
    assert by_spark.tier_counts == by_duckdb.tier_counts
    assert min(by_spark.tier_counts.values()) > 50
    assert by_duckdb.partitions > 1
    assert 300 < by_spark.drift_rows < 500 < by_spark.rows
    assert sorted(by_spark.drift["feature"]) == sorted(by_duckdb.drift["feature"])
    assert by_spark.drift["psi"].notna().all()


def test_spark_scoring_refuses_a_csv_or_file_output_before_reading_data(
    small_sim_dir, spark_engine, tmp_path, capsys
):
    existing = tmp_path / "scores.parquet"
    existing.write_bytes(b"")
    for out, problem in ((tmp_path / "scores.csv", "CSV"), (existing, "is a file")):
        with pytest.raises(SystemExit) as stopped:
            score.run(score_config(small_sim_dir, out, *SPARK_SCORING))
        assert stopped.value.code == 2
        assert problem in capsys.readouterr().err


def test_capacity_boundaries_rank_ties_by_customer_and_cutoff():
    rng = np.random.default_rng(5)
    rows = 997
    keys = pd.DataFrame(
        {
            "customer_id": pd.array(rng.permutation([f"c{i:04d}" for i in range(rows)]), "str"),
            "cutoff": pd.Series(
                rng.choice(pd.date_range("2025-01-01", periods=3).to_numpy(), rows),
                dtype="datetime64[us]",
            ),
        }
    )
    probability = rng.choice([0.1, 0.35, 0.35, 0.8, 0.8, 0.8, 0.9], rows)
    shares = {"high": 0.3, "medium": 0.25, "empty": 0.0, "mid": 0.2}
    ordered = keys.assign(p=probability).sort_values(["customer_id", "cutoff"])

    def nth_tied(value: float, k: int):
        row = ordered.loc[ordered["p"] == value].iloc[k - 1]
        return row["customer_id"], row["cutoff"]

    boundaries = capacity_boundaries(probability, shares, nth_tied)
    assert all(b.customer_id is not None for b in boundaries)  # every cut splits a tie
    got = pd.Series(CapacityTiers(boundaries).assign(probability, keys), index=keys.index)
    want = pd.Series(tiers_by_capacity(ordered["p"].to_numpy(), shares), index=ordered.index)
    pdt.assert_series_equal(got, want.sort_index())
    assert (got == "empty").sum() == 0
    assert (got == "high").sum() == round(0.3 * rows)


def test_a_new_score_folder_replaces_the_old_one_whole(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    path, written = out / "scores.parquet", out / ".scores.parquet.host.1.tmp"
    for folder, name in ((path, "old.parquet"), (written, "new.parquet")):
        folder.mkdir()
        (folder / name).write_bytes(b"x")
    move_into_place(written, path)
    assert [p.name for p in path.iterdir()] == ["new.parquet"]
    assert [p.name for p in out.iterdir()] == ["scores.parquet"]


# Validation on Spark --------------------------------------------------------------------------

SPARK_REFUSED = ("missing_column", "unparseable_timestamps", "some_null_ids")


@pytest.mark.parametrize("name", SPARK_REFUSED)
def test_spark_jobs_refuse_bad_input_exactly_as_duckdb_jobs(
    name, spark_engine, tmp_path, mlflow_store, capsys
):
    case = next(case for case in REFUSED if case.name == name)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    overrides = case.write(inputs)
    refusals = {}
    for engine in (["engine=duckdb"], SPARK_SCORING):
        capsys.readouterr()
        with pytest.raises(SystemExit) as stop:
            train.run(compose_app("train", [*overrides, *engine]))
        refusals[engine[0]] = (stop.value.code, capsys.readouterr().err)
    assert_one_error_line(*refusals["engine=spark"], case.needles)
    assert refusals["engine=spark"] == refusals["engine=duckdb"]
    assert_nothing_logged(mlflow_store, tmp_path)
    assert not list(tmp_path.rglob("*.parquet"))
