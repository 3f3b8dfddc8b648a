"""Lazy event logs: an Ibis table (an in-memory table, or DuckDB over a Parquet file) gives
the same snapshots, labels, spec and features as the pandas frame it was made from; the
intermediate tables a build caches are uniquely named and dropped; engines come from
configuration."""

import warnings

import ibis
import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException

from behaviorlab.apps.common import CONF_DIR
from behaviorlab.apps.schemas import register_schemas
from behaviorlab.data.validation import DataQualityWarning
from behaviorlab.engines import connect_engine, events_from_parquet
from behaviorlab.errors import ConfigError, DataValidationError
from behaviorlab.features.builder import (
    build_features,
    build_training_table,
    materialise_sources,
)
from behaviorlab.features.engine import join_before_cutoff, snapshot_table
from behaviorlab.features.labels import (
    count_outcomes,
    default_data_end,
    eligible_snapshots,
    label_snapshots,
)
from behaviorlab.features.snapshots import make_calendar_snapshots
from behaviorlab.features.spec import has_values, resolve_feature_spec, top_event_types
from tests.reference_features import random_event_log

CHURN = {
    "name": "churn",
    "kind": "churn",
    "horizon_days": 30,
    "lookback_days": 30,
    "qualifying_events": None,
    "churn_events": [],
    "snapshots": {"kind": "calendar", "start": "2024-03-01", "end": "2024-06-01", "every_days": 46},
}
CONVERSION = {"name": "conversion", "kind": "conversion", "conversion_events": ["purchase"]}
REPURCHASE = {"name": "repurchase", "kind": "repurchase", "purchase_events": ["purchase"]}
# session ids, amounts and an event-derived attribute: every optional column is read
FEATURES = {"sessions": {"source": "session_id"}, "attributes": {"from_events": ["platform"]}}
KINDS = ["memtable", "parquet"]


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    log = random_event_log(n_customers=40, n_events=2500, seed=8, days=200)
    rng = np.random.default_rng(1)
    platform = rng.choice(np.array(["android", "ios", "web"]), len(log))
    return log.assign(
        session_id=pd.array(
            log["customer_id"] + "-" + log["timestamp"].dt.strftime("%Y%m%d"), dtype="str"
        ),
        platform=pd.array(np.where(rng.random(len(log)) < 0.8, None, platform), dtype="str"),
    )


@pytest.fixture(scope="module")
def customers(events) -> pd.DataFrame:
    ids = sorted(events["customer_id"].unique())
    return pd.DataFrame(
        {
            "customer_id": pd.array(ids, dtype="str"),
            "plan": pd.array([("free", "pro")[i % 2] for i in range(len(ids))], dtype="str"),
        }
    )


@pytest.fixture(scope="module")
def parquet_path(events, tmp_path_factory):
    path = tmp_path_factory.mktemp("lazy") / "events.parquet"
    events.to_parquet(path, index=False)
    return path


def lazy(kind: str, events: pd.DataFrame, path) -> ibis.Table:
    """The log as an unbound in-memory Ibis table, or as DuckDB reading its Parquet file."""
    if kind == "memtable":
        return ibis.memtable(events)
    return events_from_parquet(connect_engine({"kind": "duckdb", "threads": 2}), path)


@pytest.mark.parametrize("kind", KINDS)
def test_training_table_from_a_lazy_log_equals_the_frames(kind, events, customers, parquet_path):
    want = build_training_table(events, customers, CHURN, FEATURES)
    got = build_training_table(lazy(kind, events, parquet_path), customers, CHURN, FEATURES)
    assert got.resolved_features == want.resolved_features
    assert got.resolved_features["sessions"]["source"] == "session_id"
    assert got.resolved_features["rfm"]["monetary"]
    assert got.categorical_features == ["plan", "platform"]
    pdt.assert_frame_equal(got.frame, want.frame, check_exact=False, rtol=1e-12)
    assert len(want.frame) > 40
    assert want.frame["platform"].notna().any()


@pytest.mark.parametrize("kind", KINDS)
def test_snapshots_labels_and_spec_choices_from_a_lazy_log(kind, events, parquet_path):
    table = lazy(kind, events, parquet_path)
    assert default_data_end(table) == default_data_end(events) == events["timestamp"].max()
    snaps = make_calendar_snapshots(table, start="2024-02-01", end="2024-06-01", every_days=30)
    pdt.assert_frame_equal(
        snaps, make_calendar_snapshots(events, start="2024-02-01", end="2024-06-01", every_days=30)
    )
    end = events["timestamp"].max()
    for task in (CHURN, {**CONVERSION, "horizon_days": 20}, {**REPURCHASE, "horizon_days": 20}):
        pdt.assert_frame_equal(
            label_snapshots(table, snaps, task, end), label_snapshots(events, snaps, task, end)
        )
        pdt.assert_frame_equal(
            eligible_snapshots(table, snaps, task), eligible_snapshots(events, snaps, task)
        )
    assert top_event_types(table, 3) == top_event_types(events, 3)
    assert has_values(table, "amount")
    assert not has_values(table, "coupon")
    assert not has_values(table.filter(table["event"] == "page_view"), "amount")


def test_outcome_counts_come_back_in_snapshot_order_with_zeros(events):
    snaps = make_calendar_snapshots(events, cutoffs=["2024-05-01", "2024-03-01"])
    shuffled = snaps.sample(frac=1, random_state=0).set_axis(range(100, 100 + len(snaps)))
    counts = count_outcomes(ibis.memtable(events), shuffled, CHURN, horizon_days=30)
    pdt.assert_frame_equal(counts[["customer_id", "cutoff"]], shuffled.reset_index(drop=True))
    assert counts[["n_before", "n_inside", "n_churn"]].dtypes.eq("int64").all()
    assert (counts["n_churn"] == 0).all()  # no churn events named
    assert (counts["n_inside"] == 0).any()


def test_build_caches_under_unique_names_and_drops_them(events, customers, parquet_path):
    con = connect_engine({"kind": "duckdb"})
    table = events_from_parquet(con, parquet_path)
    spec = resolve_feature_spec({}, table, customers)
    snaps = make_calendar_snapshots(table, cutoffs=["2024-04-01", "2024-06-01"])

    def cached() -> list[str]:
        return sorted(name for name in con.list_tables() if name.startswith("ibis_cached"))

    first = join_before_cutoff(table, snapshot_table(snaps.iloc[:30]))
    second = join_before_cutoff(table, snapshot_table(snaps.iloc[30:]))
    with materialise_sources(first, spec) as a, materialise_sources(second, spec) as b:
        names = cached()
        assert len(names) == 6  # joined events, type summary and gaps, twice
        mine = {t.get_name().rsplit(".", 1)[-1] for t in (a.pit, a.typed, a.gaps, b.pit)}
        assert mine <= set(names)
    assert cached() == []
    built = build_features(table, customers, snaps, spec)
    assert cached() == []
    pdt.assert_frame_equal(built, build_features(events, customers, snaps, spec))


def test_a_cached_build_of_a_lazy_log_needs_the_data_fingerprint(
    events, customers, parquet_path, tmp_path
):
    table = lazy("parquet", events, parquet_path)
    with pytest.raises(ConfigError, match="fingerprint"):
        build_training_table(table, customers, CHURN, {}, cache_dir=tmp_path)
    first = build_training_table(table, customers, CHURN, {}, cache_dir=tmp_path, fingerprint="x")
    again = build_training_table(table, customers, CHURN, {}, cache_dir=tmp_path, fingerprint="x")
    assert not first.from_cache
    assert again.from_cache
    pdt.assert_frame_equal(again.frame, first.frame)


def test_a_missing_event_attribute_names_the_log_columns(events):
    with pytest.raises(DataValidationError, match=r"'coupon' is not in the events.*platform"):
        resolve_feature_spec({"attributes": {"from_events": ["coupon"]}}, events, None)
    with pytest.raises(DataValidationError, match="'coupon' is not in the events"):
        resolve_feature_spec(
            {"attributes": {"from_events": ["coupon"]}}, ibis.memtable(events), None
        )


def test_duckdb_engine_takes_its_settings_from_config(tmp_path):
    spill = tmp_path / "spill" / "duckdb"
    con = connect_engine(
        {"kind": "duckdb", "threads": 1, "memory_limit": "512MB", "temp_directory": str(spill)}
    )
    setting = con.raw_sql("select current_setting('threads'), current_setting('memory_limit')")
    threads, memory = setting.fetchone()
    assert int(threads) == 1
    assert memory.replace(" ", "").upper().startswith(("488", "512"))  # MiB or MB
    assert spill.is_dir()
    with pytest.raises(ConfigError, match=r"engine\.kind"):
        connect_engine({"kind": "polars"})


def test_events_from_parquet_gives_canonical_types_and_refuses_zoned_times(tmp_path):
    frame = pd.DataFrame(
        {
            "customer_id": [7, 10],
            "timestamp": pd.Series(["2024-01-01", "2024-01-02"], dtype="datetime64[us]"),
            "event": ["a", "b"],
            "amount": [1, 2],
            "platform": ["web", "ios"],
        }
    )
    frame.to_parquet(tmp_path / "ints.parquet")
    table = events_from_parquet(ibis.duckdb.connect(), tmp_path / "ints.parquet")
    schema = table.schema()
    assert (schema["customer_id"], schema["amount"], schema["platform"]) == (
        ibis.dtype("string"),
        ibis.dtype("float64"),
        ibis.dtype("string"),
    )
    assert table.to_pandas()["customer_id"].tolist() == ["7", "10"]
    zoned = frame.assign(timestamp=frame["timestamp"].dt.tz_localize("UTC"))
    zoned.to_parquet(tmp_path / "zoned.parquet")
    with pytest.raises(DataValidationError, match="not a naive UTC timestamp"):
        events_from_parquet(ibis.duckdb.connect(), tmp_path / "zoned.parquet")
    frame.drop(columns="event").to_parquet(tmp_path / "no_event.parquet")
    with pytest.raises(DataValidationError, match="event"):
        events_from_parquet(ibis.duckdb.connect(), tmp_path / "no_event.parquet")


def compose_engine(overrides: list[str], searchpath=None):
    register_schemas()
    extra = [f"hydra.searchpath=[file://{searchpath}]"] if searchpath else []
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR), job_name="t"):
        return compose(config_name=None, overrides=[*extra, *overrides]).engine


def test_engine_configs_compose_against_their_schema(tmp_path):
    duckdb = compose_engine(["+engine=duckdb"])
    spark = compose_engine(["+engine=spark"])
    assert duckdb.kind == "duckdb"
    assert (spark.kind, spark.master) == ("spark", "local[2]")
    assert compose_engine(["+engine=duckdb", "engine.threads=2"]).threads == 2
    (tmp_path / "engine").mkdir()
    (tmp_path / "engine" / "typo.yaml").write_text(
        "defaults:\n  - base_engine\n  - _self_\nkind: spark\nmastr: local[2]\n"
    )
    with pytest.raises(ConfigCompositionException, match="mastr"):
        compose_engine(["+engine=typo"], searchpath=tmp_path)
    with pytest.raises(ConfigCompositionException):
        compose_engine(["+engine=duckdb", "engine.threads=many"])


def test_resolving_against_a_lazy_log_warns_like_a_frame_before_any_event(events):
    for log in (events, ibis.memtable(events)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataQualityWarning)
            resolve_feature_spec({}, log, None, as_of="2023-01-01")
        assert any("before any event" in str(w.message) for w in caught)
