"""Scoring by customer partitions: whole customers per partition, a bucket any tool can
recompute, nothing left behind, and the same scores whatever the partition size."""

import hashlib
import subprocess

import ibis
import pandas as pd
import pandas.testing as pdt
import pytest

from behaviorlab.data.simulator import simulate
from behaviorlab.errors import ConfigError
from behaviorlab.features.builder import build_features, build_training_table
from behaviorlab.modeling.calibration import fit_calibrator
from behaviorlab.modeling.estimators import LightGBMEstimator
from behaviorlab.modeling.model import CalibratedModel, freeze_categories
from behaviorlab.processes import host_name
from behaviorlab.scoring.batch import (
    default_cutoff,
    remove_abandoned_temporaries,
    score_to_file,
    scoring_snapshots,
)
from behaviorlab.scoring.drift import profile_features
from behaviorlab.scoring.partitions import bucket_of, partition_count, partition_events
from behaviorlab.scoring.reasons import reason_spec

CUTOFF = "2024-03-01"


def frame_of(rows: list[tuple], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    frame["customer_id"] = frame["customer_id"].astype("str")
    for column in ("timestamp", "cutoff"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
    return frame


IDS = [f"c{i:02d}" for i in range(12)]
EVENTS = frame_of(
    [
        (cid, f"2024-02-{1 + (i * 3 + k) % 27:02d}", "visit", float(k))
        for i, cid in enumerate(IDS)
        for k in range(i % 4 + 1)
    ]
    + [("unscored", "2024-02-10", "visit", 1.0)],
    ["customer_id", "timestamp", "event", "amount"],
)
EVENTS["note"] = "wide property column scoring never reads"
SNAPSHOTS = frame_of([(cid, CUTOFF) for cid in IDS], ["customer_id", "cutoff"])
CUSTOMERS = frame_of(
    [(cid, ["free", "pro"][i % 2]) for i, cid in enumerate([*IDS, "unscored"])],
    ["customer_id", "plan"],
)


def collect(events, customers, snapshots, folder, size, columns=None):
    """Every partition read back, as lists of frames per table."""
    with partition_events(events, customers, snapshots, folder, size, columns) as partitions:
        parts = list(partitions)
        assert folder.is_dir()
    return parts


def sorted_rows(frames: list[pd.DataFrame], keys: list[str]) -> pd.DataFrame:
    return pd.concat(frames).sort_values(keys, ignore_index=True)


def test_partition_count_follows_the_partition_size():
    assert partition_count(12, 5) == 3
    assert partition_count(10, 5) == 2
    assert partition_count(0, 5) == 1
    with pytest.raises(ConfigError, match="partition_customers"):
        partition_count(10, 0)


def test_bucket_is_the_md5_lower_half_any_tool_recomputes():
    ids = pd.Series(["c00", "c01", "customer-ü", "12345"], dtype="str")
    table = ibis.memtable({"customer_id": ids})
    got = ibis.duckdb.connect().execute(table.select(part=bucket_of(table.customer_id, 7)))
    expected = [int.from_bytes(hashlib.md5(i.encode()).digest()[8:], "little") % 7 for i in ids]
    assert got["part"].tolist() == expected


def test_each_customer_lands_whole_in_one_partition_and_unscored_ones_are_dropped(tmp_path):
    columns = ["customer_id", "timestamp", "event", "amount"]
    parts = collect(EVENTS, CUSTOMERS, SNAPSHOTS, tmp_path / "parts", 3, columns)
    assert 2 <= len(parts) <= 4
    for part in parts:
        owners = set(part.snapshots["customer_id"])
        assert set(part.events["customer_id"]) <= owners
        assert set(part.customers["customer_id"]) == owners
        assert list(part.events.columns) == columns
    events = sorted_rows([p.events for p in parts], ["customer_id", "timestamp", "amount"])
    scored = EVENTS.loc[EVENTS["customer_id"] != "unscored", columns]
    pdt.assert_frame_equal(
        events, scored.sort_values(["customer_id", "timestamp", "amount"], ignore_index=True)
    )
    snapshots = sorted_rows([p.snapshots for p in parts], ["customer_id"])
    pdt.assert_frame_equal(snapshots, SNAPSHOTS)
    customers = sorted_rows([p.customers for p in parts], ["customer_id"])
    pdt.assert_frame_equal(customers, CUSTOMERS.iloc[:-1])
    assert not (tmp_path / "parts").exists()


def test_an_ibis_table_on_duckdb_partitions_like_the_frame_and_leaves_no_table(tmp_path):
    EVENTS.to_parquet(tmp_path / "events.parquet")
    con = ibis.duckdb.connect()
    events = con.read_parquet(tmp_path / "events.parquet")
    before = set(con.list_tables())
    lazy = collect(events, CUSTOMERS, SNAPSHOTS, tmp_path / "lazy", 3)
    eager = collect(EVENTS, CUSTOMERS, SNAPSHOTS, tmp_path / "eager", 3)
    assert set(con.list_tables()) == before
    assert len(lazy) == len(eager)
    for a, b in zip(lazy, eager, strict=True):
        pdt.assert_frame_equal(a.snapshots, b.snapshots)
        keys = ["customer_id", "timestamp", "amount"]
        pdt.assert_frame_equal(
            a.events.sort_values(keys, ignore_index=True),
            b.events.sort_values(keys, ignore_index=True),
        )


def test_customers_without_events_get_an_empty_event_frame(tmp_path):
    parts = collect(EVENTS.iloc[:0], CUSTOMERS, SNAPSHOTS, tmp_path / "parts", 100)
    assert len(parts) == 1
    assert parts[0].events.empty
    assert parts[0].events["timestamp"].dtype == "datetime64[us]"
    assert len(parts[0].snapshots) == len(SNAPSHOTS)


def test_the_folder_goes_when_the_caller_fails(tmp_path):
    folder = tmp_path / "parts"
    failing = pytest.raises(RuntimeError, match="scoring broke")
    with failing, partition_events(EVENTS, None, SNAPSHOTS, folder, 3):
        raise RuntimeError("scoring broke")
    assert not folder.exists()


def test_a_gone_writers_partition_folder_is_removed(tmp_path):
    finished = subprocess.Popen(["true"])
    finished.wait()
    folder = tmp_path / f".scores.parquet.partitions.{host_name()}.{finished.pid}.tmp"
    (folder / "events" / "part=0").mkdir(parents=True)
    (folder / "events" / "part=0" / "data_0.parquet").write_bytes(b"partial")
    removed = remove_abandoned_temporaries(tmp_path / "scores.parquet.partitions")
    assert removed == [folder]
    assert not folder.exists()


TASK = {
    "name": "churn",
    "kind": "churn",
    "horizon_days": 30,
    "lookback_days": 30,
    "qualifying_events": None,
    "churn_events": [],
    "snapshots": {"kind": "calendar", "cutoffs": ["2024-09-01", "2024-10-01", "2024-11-01"]},
}
SCORING = {
    "tiers": {"mode": "capacity", "high": 0.05, "medium": 0.15},
    "actions": {"high": "call", "medium": "email", "low": None},
    "reason_tiers": ["high", "medium"],
    "n_reasons": 3,
    "unseen_categories": "error",
}


def fit_scoring_inputs(features: dict):
    """A small simulation, a real LightGBM fitted on its training table, and the spec
    scoring reads (as the train app writes it)."""
    sim = simulate(n_customers=800, seed=3, start="2024-01-01", end="2024-12-31")
    with pytest.warns(UserWarning, match="tenure_days"):
        table = build_training_table(sim.events, sim.customers, TASK, features)
    frame, names = table.frame, table.feature_names
    label = frame["label"].to_numpy()
    estimator = LightGBMEstimator({"num_leaves": 7}, n_estimators=50, seed=1)
    estimator.fit(frame[names], label, frame[names], label)
    calibrator = fit_calibrator(estimator.predict_raw(frame[names]), label, {"method": "sigmoid"})
    categories = freeze_categories(frame, table.categorical_features)
    model = CalibratedModel(estimator, calibrator, names, categories, "lightgbm")
    spec = {
        "task": TASK,
        "features": table.resolved_features,
        "feature_names": names,
        "categorical_features": table.categorical_features,
        "scoring": SCORING,
        "reasons": reason_spec(table.resolved_features, frame, names, TASK),
        "profile": profile_features(frame, names),
    }
    snapshots = scoring_snapshots(sim.events, sim.customers, TASK, default_cutoff(sim.events))
    return model, spec, sim, snapshots


@pytest.fixture(scope="module")
def scoring_inputs():
    return fit_scoring_inputs({})


@pytest.fixture(scope="module")
def clv_scoring_inputs():
    return fit_scoring_inputs({"clv": {"transactions_model": "bg_nbd"}})


def score_with(inputs, path, events, partition_customers):
    model, spec, sim, snapshots = inputs
    summary = score_to_file(
        model,
        spec,
        events,
        sim.customers,
        snapshots,
        path,
        chunk_size=100,
        reason_tiers=["high", "medium"],
        extra={"model_version": "1"},
        psi_warn=0.2,
        progress=False,
        partition_customers=partition_customers,
    )
    return summary, pd.read_parquet(path).sort_values("customer_id", ignore_index=True)


def test_small_partitions_score_exactly_like_one_partition(scoring_inputs, tmp_path):
    sim, snapshots = scoring_inputs[2], scoring_inputs[3]
    out = tmp_path / "scores"
    whole, one = score_with(scoring_inputs, out / "one.parquet", sim.events, 10**6)
    split, many = score_with(scoring_inputs, out / "many.parquet", sim.events, 37)
    assert whole.partitions == 1
    assert split.partitions >= 8
    assert len(one) == len(snapshots) == whole.rows > 300
    pdt.assert_frame_equal(many, one)
    assert split.tiers == [  # sums in another order: equal up to rounding
        tier | {"expected": pytest.approx(tier["expected"])} for tier in whole.tiers
    ]
    pdt.assert_frame_equal(split.drift, whole.drift)
    assert one["reason_1"].notna().any()
    assert sorted(p.name for p in out.iterdir()) == ["many.parquet", "one.parquet"]


def test_clv_features_are_fitted_on_the_whole_log_whatever_the_partitions(
    clv_scoring_inputs, tmp_path
):
    _, spec, sim, snapshots = clv_scoring_inputs
    assert "clv_probability_alive" in spec["feature_names"]
    _, one = score_with(clv_scoring_inputs, tmp_path / "one.parquet", sim.events, 10**6)
    _, many = score_with(clv_scoring_inputs, tmp_path / "many.parquet", sim.events, 37)
    pdt.assert_frame_equal(many, one)
    built = build_features(sim.events, sim.customers, snapshots, spec["features"])
    assert built["clv_probability_alive"].notna().sum() > 100


def test_lazy_events_on_duckdb_score_like_the_frame(scoring_inputs, tmp_path):
    sim = scoring_inputs[2]
    sim.events.to_parquet(tmp_path / "events.parquet")
    events = ibis.duckdb.connect().read_parquet(tmp_path / "events.parquet")
    assert default_cutoff(events) == default_cutoff(sim.events)
    _, lazy = score_with(scoring_inputs, tmp_path / "lazy.parquet", events, 50)
    _, eager = score_with(scoring_inputs, tmp_path / "eager.parquet", sim.events, 10**6)
    pdt.assert_frame_equal(lazy, eager)
