"""Batch scoring on Spark (``engine=spark``): the feature table never reaches the driver.

The features are ``features.builder.lazy_features`` on the Spark backend, handed to Spark
as a DataFrame. The fitted model that the registered pyfunc wraps travels to the executors
as one broadcast; each task unpickles it once and scores its Arrow batches with
``mapInPandas``, finishing the features exactly as ``build_features`` does, so the output
columns are those of the DuckDB path (``scoring/batch.py``).

Pass one writes every feature row with its probability to a temporary Parquet folder (the
spill) beside the output. Threshold tiers need nothing else: the same pass writes tier,
action and reasons, and the output is a selection of the spill's columns. Capacity tiers
rank every customer of the job: the driver collects the probabilities (one float per
customer) and fixes each tier's boundary row, then a second pass over the spill writes
tier, action and reasons. Rows tied on probability are ranked by customer id, then cutoff:
the DuckDB path's order when the job fits in one partition, so both engines give the same
tiers then.

Drift is measured on the driver over a seeded sample of at most ``drift_rows`` feature rows
(all rows when there are fewer); the summary says how many.

The output is a folder of Parquet files at ``path``, written under a temporary name beside
it and renamed into place. Paths are local (or mounted) folders that the executors share.
"""

import contextlib
import functools
import math
import os
import pickle
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, StringType, StructField, StructType

from behaviorlab.data.contract import CUSTOMER_ID, CUTOFF, SNAPSHOT_KEYS
from behaviorlab.errors import ConfigError, DataValidationError
from behaviorlab.features.builder import finish_features, lazy_features
from behaviorlab.features.spec import calendar_features
from behaviorlab.scoring.batch import (
    PROBABILITY,
    ScoringSummary,
    check_feature_inputs,
    raw_categories,
    remove_abandoned_temporaries,
    remove_path,
    summarise_tiers,
    temporary_path,
)
from behaviorlab.scoring.drift import DriftAccumulator
from behaviorlab.scoring.predict import (
    LOWEST_TIER,
    assign_tiers,
    explain_scores,
    output_columns,
    tier_levels,
    tier_mode,
)

DRIFT_ROWS = 200_000
DRIFT_SEED = 0
# Each job's Parquet timestamps as Parquet's own microsecond type (Spark's default, INT96,
# loses the UTC flag of scored_at for other readers).
WRITE_SETTINGS = {"spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS"}
BATCH_ROWS_SETTING = "spark.sql.execution.arrow.maxRecordsPerBatch"
# The spill's files sit in a plainly named folder inside its (hidden) temporary folder:
# Spark's readers skip paths whose name starts with a dot.
SPILL_ROWS = "rows"


@dataclass
class SparkScoringSummary(ScoringSummary):
    """A scoring summary that also says how many feature rows the drift was measured on."""

    drift_rows: int = 0


@dataclass(frozen=True)
class Boundary:
    """The last row of a capacity tier (and the tiers above it) in the job's ranking: its
    probability and, when only some rows tied at that probability are inside, its key."""

    tier: str
    probability: float
    customer_id: str | None = None
    cutoff: pd.Timestamp | None = None

    def holds(self, probability: np.ndarray, keys: pd.DataFrame) -> np.ndarray:
        """Which rows rank at or above this boundary."""
        above = probability > self.probability
        tied = probability == self.probability
        if self.customer_id is None:
            return above | tied
        ids = keys[CUSTOMER_ID].to_numpy(dtype=object)
        cutoffs = keys[CUTOFF].to_numpy()
        before = (ids < self.customer_id) | (
            (ids == self.customer_id) & (cutoffs <= np.datetime64(self.cutoff))
        )
        return above | (tied & before)


@dataclass(frozen=True)
class CapacityTiers:
    """Capacity tiers with boundaries fixed from every probability of the job."""

    boundaries: tuple[Boundary, ...]

    def assign(self, probability: np.ndarray, keys: pd.DataFrame) -> np.ndarray:
        """Each row's tier: the first whose boundary it reaches, else ``low``."""
        tier = np.full(len(probability), LOWEST_TIER, dtype=object)
        open_rows = np.ones(len(probability), dtype=bool)
        for boundary in self.boundaries:
            inside = boundary.holds(probability, keys) & open_rows
            tier[inside] = boundary.tier
            open_rows &= ~inside
        return tier


@dataclass(frozen=True)
class ThresholdTiers:
    """Threshold tiers: a row's tier depends on its probability alone."""

    tiers: Mapping[str, Any]

    def assign(self, probability: np.ndarray, keys: pd.DataFrame) -> np.ndarray:
        """Each row's tier by the thresholds."""
        return assign_tiers(probability, self.tiers)


def capacity_boundaries(probability: np.ndarray, shares: Mapping[str, float], nth_tied) -> tuple:
    """Each capacity tier's boundary, with the counts of ``tiers_by_capacity``: the top
    ``round(share * n)`` rows (on the running total) by probability. ``nth_tied(p, k)``
    gives the key of the k-th row (by customer id, then cutoff) of those at probability p,
    asked only when a tier takes some but not all of them."""
    ordered = np.sort(np.asarray(probability, dtype=float))
    n = len(ordered)
    boundaries, taken = [], 0.0
    for name, share in shares.items():
        taken += share
        end = min(round(taken * n), n)
        if end == 0:
            boundaries.append(Boundary(name, math.inf))
            continue
        value = float(ordered[n - end])
        above = n - np.searchsorted(ordered, value, "right")
        tied = n - above - np.searchsorted(ordered, value, "left")
        inside = end - above
        key = () if inside == tied else nth_tied(value, int(inside))
        boundaries.append(Boundary(name, value, *key))
    return tuple(boundaries)


def with_probability(batches: Iterator[pd.DataFrame], model_bytes, spec) -> Iterator[pd.DataFrame]:
    """Pass one on an executor: each batch of engine feature rows with its probability."""
    model = pickle.loads(model_bytes.value)
    names = spec["feature_names"]
    for batch in batches:
        features = finish_features(batch, spec["features"])
        yield batch.assign(**{PROBABILITY: model.predict_proba(features[names])})


def with_scores(
    batches: Iterator[pd.DataFrame], model_bytes, spec, tiering, reason_tiers, keep_all: bool
) -> Iterator[pd.DataFrame]:
    """On an executor: probability (computed unless the batch has it), tier, action and
    reasons of each batch, after its keys (or after all its columns with ``keep_all``)."""
    model = pickle.loads(model_bytes.value)
    names, scoring = spec["feature_names"], spec["scoring"]
    for batch in batches:
        features = finish_features(batch, spec["features"])
        probability = (
            batch[PROBABILITY].to_numpy(dtype=float)
            if PROBABILITY in batch.columns
            else model.predict_proba(features[names])
        )
        keys = features[list(SNAPSHOT_KEYS)]
        scored = explain_scores(
            model,
            features[names],
            probability,
            tiering.assign(probability, keys),
            reason_tiers,
            scoring["n_reasons"],
            reasons=spec.get("reasons"),
            actions=scoring.get("actions"),
        )
        kept = batch if keep_all else batch[list(SNAPSHOT_KEYS)]
        yield pd.concat([kept.drop(columns=PROBABILITY, errors="ignore"), scored], axis=1)


def score_fields(n_reasons: int) -> list[StructField]:
    """The Spark types of the score columns (``predict.output_columns``)."""
    return [
        StructField(
            name, DoubleType() if name.endswith(("probability", "contribution")) else StringType()
        )
        for name in output_columns(n_reasons)
    ]


@contextlib.contextmanager
def spark_frame(con: ibis.BaseBackend, table: ibis.Table) -> Iterator[DataFrame]:
    """An Ibis table of the Spark backend as a Spark DataFrame (its cutoff a naive
    timestamp), through a temporary view dropped after the block."""
    name = ibis.util.gen_name("scoring_features")
    con.create_view(name, table)
    try:
        frame = con.raw_sql(f"SELECT * FROM `{name}`")
        yield frame.withColumn(CUTOFF, F.col(CUTOFF).cast("timestamp_ntz"))
    finally:
        con.drop_view(name, force=True)


@contextlib.contextmanager
def session_settings(session: SparkSession, settings: Mapping[str, str]) -> Iterator[None]:
    """Runtime settings for the block only; the session's own values come back after."""
    before = {key: session.conf.get(key, None) for key in settings}
    for key, value in settings.items():
        session.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                session.conf.unset(key)
            else:
                session.conf.set(key, value)


def use_driver_python_on_local_executors(session: SparkSession) -> None:
    """Local executors run beside the driver: give their Python workers this interpreter
    (PySpark's default is whatever ``python3`` the PATH finds, which may lack the packages)
    unless PYSPARK_PYTHON names one."""
    context = session.sparkContext
    if context.master.startswith("local") and not os.environ.get("PYSPARK_PYTHON"):
        context.pythonExec = sys.executable


def first_pass(features: DataFrame, *, model_bytes, spec, tiering, reason_tiers) -> DataFrame:
    """Features with their probability; with threshold tiers also tier, action, reasons."""
    if tiering is None:
        schema = StructType([*features.schema.fields, StructField(PROBABILITY, DoubleType())])
        run = functools.partial(with_probability, model_bytes=model_bytes, spec=spec)
        return features.mapInPandas(run, schema)
    fields = score_fields(spec["scoring"]["n_reasons"])
    run = functools.partial(
        with_scores,
        model_bytes=model_bytes,
        spec=spec,
        tiering=tiering,
        reason_tiers=reason_tiers,
        keep_all=True,
    )
    return features.mapInPandas(run, StructType([*features.schema.fields, *fields]))


def second_pass(spilled: DataFrame, model_bytes, spec, tiering, reason_tiers) -> DataFrame:
    """Keys with tier, action and reasons of the spilled rows at fixed tier boundaries."""
    keys = [spilled.schema[name] for name in SNAPSHOT_KEYS]
    schema = StructType([*keys, *score_fields(spec["scoring"]["n_reasons"])])
    run = functools.partial(
        with_scores,
        model_bytes=model_bytes,
        spec=spec,
        tiering=tiering,
        reason_tiers=reason_tiers,
        keep_all=False,
    )
    return spilled.mapInPandas(run, schema)


def nth_tied_key(spilled: DataFrame):
    """``nth_tied(p, k)`` for ``capacity_boundaries``, answered by Spark over the spill."""

    def nth_tied(probability: float, k: int) -> tuple[str, pd.Timestamp]:
        tied = spilled.filter(F.col(PROBABILITY) == probability).select(*SNAPSHOT_KEYS)
        row = tied.orderBy(*SNAPSHOT_KEYS).offset(k - 1).first()
        return row[CUSTOMER_ID], pd.Timestamp(row[CUTOFF])

    return nth_tied


def drift_sample(spilled: DataFrame, rows: int, limit: int) -> pd.DataFrame:
    """The spilled feature rows on the driver: all of them, or a seeded sample of about
    ``limit`` rows."""
    sample = spilled if rows <= limit else spilled.sample(fraction=limit / rows, seed=DRIFT_SEED)
    return sample.toPandas()


def measure_drift(sample: pd.DataFrame, customers, spec, psi_warn: float):
    """Drift of the sampled feature rows against the model's training profile."""
    profile = spec.get("profile") or {}
    drift = DriftAccumulator(profile, exclude=calendar_features(spec["features"]))
    if profile and len(sample):
        features = finish_features(sample, spec["features"])
        drift.update(features[spec["feature_names"]], raw_categories(customers, features, spec))
    return (drift.report(warn_above=psi_warn) if profile else None), drift.excluded


def with_extra_columns(scores: DataFrame, extra: Mapping[str, Any]) -> DataFrame:
    """Constant columns (model name and version, time of scoring) after the scores."""
    for name, value in extra.items():
        literal = value.to_pydatetime() if isinstance(value, pd.Timestamp) else value
        scores = scores.withColumn(name, F.lit(literal))
    return scores


def move_into_place(folder: Path, path: Path) -> None:
    """Rename the written folder to ``path``; an older output there is moved aside first
    and removed after, so a reader finds the old scores or the new ones."""
    if not (path.exists() or path.is_symlink()):
        os.replace(folder, path)
        return
    old = temporary_path(path.with_name(f"{path.name}.old"))
    os.replace(path, old)
    os.replace(folder, path)
    remove_path(old)


def probability_quantiles(probability: np.ndarray) -> dict[str, float]:
    """The summary's quantiles and mean of the scored probabilities."""
    quantiles = {
        f"p{int(q * 100)}": float(np.quantile(probability, q)) for q in (0.1, 0.5, 0.9, 0.99)
    }
    return quantiles | {"mean": float(probability.mean())}


def check_spark_inputs(events, snapshots: pd.DataFrame) -> ibis.BaseBackend:
    """The Spark backend of the events; refuses other inputs and an empty job."""
    if events is None:
        raise ConfigError(
            "engine=spark scores from an event log; score attribute-only models with engine=duckdb"
        )
    con = ibis.get_backend(events)
    if con.name != "pyspark":
        raise ConfigError(f"Spark scoring needs the events on Spark; these are on {con.name}")
    if snapshots.empty:
        raise DataValidationError("no eligible customer to score at this cutoff")
    return con


def spill_features(
    con: ibis.BaseBackend,
    inputs: tuple,
    spec: Mapping[str, Any],
    score: functools.partial,
    spill: Path,
) -> None:
    """Features computed on Spark and written with the first pass's columns to ``spill``;
    the feature finishing and model inputs are checked on the driver first (on no rows)."""
    with lazy_features(*inputs, spec["features"]) as table, spark_frame(con, table) as features:
        empty = finish_features(features.limit(0).toPandas(), spec["features"])
        check_feature_inputs(empty, spec["feature_names"])
        score(features).write.parquet(str(spill))


def score_spill(spilled: DataFrame, probability: np.ndarray, spec, model_bytes, reason_tiers):
    """The score columns of the spilled rows: read from the spill (threshold tiers) or
    from a second pass at capacity boundaries fixed from every probability."""
    tiers = spec["scoring"]["tiers"]
    if tier_mode(tiers) != "capacity":
        return spilled.select(*SNAPSHOT_KEYS, *output_columns(spec["scoring"]["n_reasons"]))
    boundaries = capacity_boundaries(probability, tier_levels(tiers), nth_tied_key(spilled))
    return second_pass(spilled, model_bytes, spec, CapacityTiers(boundaries), reason_tiers)


def score_on_spark(
    model,
    spec: Mapping[str, Any],
    events: ibis.Table,
    customers: pd.DataFrame | None,
    snapshots: pd.DataFrame,
    path: Path,
    *,
    chunk_size: int,
    reason_tiers: list[str],
    extra: Mapping[str, Any],
    psi_warn: float,
    drift_rows: int = DRIFT_ROWS,
) -> SparkScoringSummary:
    """Score every snapshot on Spark and write a folder of Parquet files at ``path``.

    ``events`` is a lazy table of the Spark backend; ``snapshots`` the (customer_id, cutoff)
    pairs to score; ``chunk_size`` the rows per Arrow batch an executor scores at once. See
    the module docstring for the passes, the tie order, drift and the output.
    """
    con = check_spark_inputs(events, snapshots)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for target in (path, *(path.with_name(f"{path.name}.{s}") for s in ("features", "old"))):
        remove_abandoned_temporaries(target)
    temporary = temporary_path(path)
    spill_folder = temporary_path(path.with_name(f"{path.name}.features"))
    spill = spill_folder / SPILL_ROWS
    tiers = spec["scoring"]["tiers"]
    session = SparkSession.getActiveSession()
    use_driver_python_on_local_executors(session)
    settings = WRITE_SETTINGS | {BATCH_ROWS_SETTING: str(int(chunk_size))}
    model_bytes = session.sparkContext.broadcast(pickle.dumps(model))
    try:
        with session_settings(session, settings):
            first = functools.partial(
                first_pass,
                model_bytes=model_bytes,
                spec=spec,
                tiering=None if tier_mode(tiers) == "capacity" else ThresholdTiers(tiers),
                reason_tiers=reason_tiers,
            )
            spill_features(con, (events, customers, snapshots), spec, first, spill)
            spilled = session.read.parquet(str(spill))
            probability = spilled.select(PROBABILITY).toArrow().column(0).to_numpy()
            scores = score_spill(spilled, probability, spec, model_bytes, reason_tiers)
            with_extra_columns(scores, extra).write.parquet(str(temporary))
            outputs = output_columns(spec["scoring"]["n_reasons"])
            features = spilled.select(*(c for c in spilled.columns if c not in outputs))
            sample = drift_sample(features, len(probability), drift_rows)
        move_into_place(temporary, path)
    finally:
        model_bytes.destroy()
        for folder in (temporary, spill_folder):
            if folder.exists():
                remove_path(folder)
    drift, excluded = measure_drift(sample, customers, spec, psi_warn)
    actions = spec["scoring"].get("actions")
    return SparkScoringSummary(
        rows=len(probability),
        tiers=summarise_tiers(probability, assign_tiers(probability, tiers), tiers, actions),
        probability_quantiles=probability_quantiles(probability),
        drift=drift,
        drift_excluded=excluded,
        drift_rows=len(sample),
    )
