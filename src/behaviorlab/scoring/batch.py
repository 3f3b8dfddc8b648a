"""Batch scoring at a cutoff: features from raw events (or a customer table alone) with the
model's own spec, one partition of customers at a time.

The inputs are split once by a hash of the customer id (scoring/partitions.py), so memory
stays bounded by the partition size whatever the number of customers or events. With a
fitted CLV model, each partition's customers are also valued from their own purchases
(``clv`` and ``value_at_risk`` = probability x clv), and capacity tiers can rank by value
at risk over the whole job.
"""

import contextlib
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from behaviorlab.data.contract import (
    AMOUNT,
    CUSTOMER_ID,
    CUTOFF,
    EVENT,
    SESSION_ID,
    TIMESTAMP,
    VALID_FROM,
)
from behaviorlab.errors import ConfigError, DataValidationError
from behaviorlab.features.builder import build_features, fit_clv_models
from behaviorlab.features.labels import eligible_snapshots
from behaviorlab.features.snapshots import make_calendar_snapshots, make_relative_snapshots
from behaviorlab.features.spec import calendar_features, family_enabled
from behaviorlab.processes import host_name, process_alive, process_start_time
from behaviorlab.scoring.customer_value import OUTPUT_COLUMNS, VALUE_AT_RISK, CustomerValue
from behaviorlab.scoring.drift import DriftAccumulator
from behaviorlab.scoring.partitions import Partition, partition_events
from behaviorlab.scoring.predict import (
    assign_ranked_tiers,
    check_ranking,
    explain_scores,
    tier_names,
)

PROBABILITY = "probability"


@dataclass
class ScoringSummary:
    """What a scoring job did, for the printed summary and the MLflow scoring run.

    ``tiers`` lists every tier highest first with its customers, its expected number of
    positives (the sum of their probabilities) and its action, and with a CLV model its
    value at risk (the sum of probability x clv); ``clv_total`` is then the customers' CLV.
    """

    rows: int = 0
    tiers: list[dict[str, Any]] = field(default_factory=list)
    probability_quantiles: dict[str, float] = field(default_factory=dict)
    drift: pd.DataFrame | None = None
    drift_excluded: list[str] = field(default_factory=list)
    partitions: int = 0
    clv_total: float | None = None

    @property
    def tier_counts(self) -> dict[str, int]:
        """Customers per tier."""
        return {tier["tier"]: tier["customers"] for tier in self.tiers}


def default_cutoff(events: pd.DataFrame | ibis.Table) -> pd.Timestamp:
    """End of data: midnight after the last event, so every event counts as history (an
    Ibis table answers with one aggregate query)."""
    latest = events[TIMESTAMP].max()
    if isinstance(events, ibis.Table):
        latest = latest.execute()
    return pd.Timestamp(latest).normalize() + pd.Timedelta(days=1)


def scoring_cutoff(
    requested, events: pd.DataFrame | None, task: Mapping[str, Any]
) -> pd.Timestamp | None:
    """The cutoff asked for; else the end of the events; else (a customer table alone) the
    task's own cutoff, which may be none at all (NaT, as in training)."""
    if requested:
        return pd.Timestamp(requested)
    if events is not None:
        return default_cutoff(events)
    cutoff = (task.get("snapshots") or {}).get("cutoff")
    return pd.Timestamp(cutoff) if cutoff else None


def attribute_snapshots(customers: pd.DataFrame | None, cutoff) -> pd.DataFrame:
    """Attribute-only tasks score every customer of the table once, at one cutoff (none for
    a static table trained without one); a timed table needs the cutoff its rows are read at."""
    if customers is None:
        raise DataValidationError("an attribute-only model scores a customer table: none given")
    timed = VALID_FROM in customers.columns
    if timed and cutoff is None:
        raise ConfigError("a customer table with valid_from is scored at a cutoff: set cutoff")
    rows = customers.loc[customers[VALID_FROM] <= cutoff] if timed else customers
    ids = pd.Series(rows[CUSTOMER_ID].astype("str").unique(), name=CUSTOMER_ID)
    stamp = pd.Timestamp(cutoff) if cutoff is not None else pd.NaT
    stamps = pd.Series(stamp, index=ids.index, dtype="datetime64[us]", name=CUTOFF)
    return pd.concat([ids, stamps], axis=1).sort_values(CUSTOMER_ID, ignore_index=True)


def scoring_snapshots(
    events: pd.DataFrame,
    customers: pd.DataFrame | None,
    task: Mapping[str, Any],
    cutoff,
    window_days: int | None = None,
) -> pd.DataFrame:
    """The snapshots the task defines at a scoring cutoff, with the task's eligibility.

    Attribute-only tasks score every customer of the table. Calendar tasks score every
    customer at the cutoff itself. Signup-relative tasks score
    each customer at their own snapshot (signup + N days), as in training, for customers
    whose snapshot falls in the ``window_days`` before the cutoff (default: the task's
    horizon, while the predicted outcome is still open); older snapshots are history.
    """
    if task.get("kind") == "attributes":
        return attribute_snapshots(customers, cutoff)
    cutoff = pd.Timestamp(cutoff)
    snapshot_cfg = task.get("snapshots") or {}
    if snapshot_cfg.get("kind", "calendar") != "relative":
        snapshots = make_calendar_snapshots(events, cutoffs=[str(cutoff)])
        return eligible_snapshots(events, snapshots, task)
    window = int(window_days if window_days is not None else task["horizon_days"])
    if window <= 0:
        raise ConfigError(f"scoring window_days must be a positive number of days, got {window}")
    relative = make_relative_snapshots(customers, snapshot_cfg["days_after_signup"])
    due = relative[CUTOFF].between(cutoff - pd.Timedelta(days=window), cutoff, inclusive="right")
    return eligible_snapshots(events, relative.loc[due], task)


def scored_event_columns(
    events: pd.DataFrame | ibis.Table | None, spec: Mapping[str, Any]
) -> list[str] | None:
    """The event columns feature building reads (canonical ones and event-derived
    attributes) that the log has; None without events."""
    if events is None:
        return None
    attributes = spec["features"]["attributes"]
    derived = (
        [c["name"] for c in attributes.get("from_events") or []] if attributes["enabled"] else []
    )
    wanted = [CUSTOMER_ID, TIMESTAMP, EVENT, AMOUNT, SESSION_ID, *derived]
    return [name for name in dict.fromkeys(wanted) if name in events.columns]


def check_feature_inputs(features: pd.DataFrame, feature_names: list[str]) -> None:
    """Name the model inputs the rebuilt features lack (e.g. a missing attribute column)."""
    missing = [name for name in feature_names if name not in features.columns]
    if missing:
        raise DataValidationError(
            f"cannot score: the data provides no input for model features {missing}"
        )


def raw_categories(
    customers: pd.DataFrame | None, features: pd.DataFrame, spec: Mapping[str, Any]
) -> pd.DataFrame | None:
    """The customer-table values of categorical attributes for each scored row, before
    unseen levels become missing (the latest row of a timed table): drift counts them."""
    attributes = spec["features"]["attributes"]
    names = [
        c["name"]
        for c in attributes.get("columns") or []
        if attributes["enabled"] and c["kind"] == "categorical"
    ]
    names = [name for name in names if customers is not None and name in customers.columns]
    if not names:
        return None
    latest = customers.drop_duplicates(CUSTOMER_ID, keep="last")
    latest = latest.set_index(latest[CUSTOMER_ID].astype("str"))[names]
    return latest.reindex(features[CUSTOMER_ID].astype("str").to_numpy()).reset_index(drop=True)


def spill_features(
    model,
    spec: Mapping[str, Any],
    partitions: Iterable[Partition],
    writer: "ChunkWriter",
    drift: DriftAccumulator,
    customer_value: CustomerValue | None = None,
    clv_models: dict | None = None,
) -> pd.DataFrame:
    """First pass: features and probabilities (and with a CLV model each customer's value)
    partition by partition, written to a temporary Parquet file; returns every probability
    and value at risk (a few floats per customer: small)."""
    names = spec["feature_names"]
    ranked = []
    for part in partitions:
        built = build_features(
            part.events, part.customers, part.snapshots, spec["features"], clv_models
        )
        features = part.snapshots.merge(built, on=[CUSTOMER_ID, CUTOFF], how="left")
        check_feature_inputs(features, names)
        features = features[[CUSTOMER_ID, CUTOFF, *names]].reset_index(drop=True)
        probability = model.predict_proba(features[names])
        drift.update(features[names], raw_categories(part.customers, features, spec))
        scored = features.assign(**{PROBABILITY: probability})
        if customer_value is not None:
            valued = customer_value.score(part.events, features[CUSTOMER_ID])
            scored = pd.concat([scored, valued], axis=1)
            scored[VALUE_AT_RISK] = scored[PROBABILITY] * scored["clv"]
        ranked.append(scored[scored.columns.intersection([PROBABILITY, "clv", VALUE_AT_RISK])])
        writer.append(scored)
    writer.close()
    return pd.concat(ranked, ignore_index=True) if ranked else pd.DataFrame({PROBABILITY: []})


def explain_spilled(
    model,
    spec: Mapping[str, Any],
    spill: Path,
    tier: np.ndarray,
    reason_tiers: list[str],
    batch_size: int,
) -> Iterator[pd.DataFrame]:
    """Second pass: the spilled rows batch by batch with their (global) tiers, actions and
    readable reasons, keyed by customer and cutoff."""
    scoring = spec["scoring"]
    names = spec["feature_names"]
    start = 0
    for batch in pq.ParquetFile(spill).iter_batches(batch_size=batch_size):
        frame = batch.to_pandas()
        rows = tier[start : start + len(frame)]
        start += len(frame)
        scored = explain_scores(
            model,
            frame[names],
            frame[PROBABILITY].to_numpy(),
            rows,
            reason_tiers,
            scoring["n_reasons"],
            reasons=spec.get("reasons"),
            actions=scoring.get("actions"),
        )
        valued = frame.columns.intersection([*OUTPUT_COLUMNS, VALUE_AT_RISK])
        yield pd.concat([frame[[CUSTOMER_ID, CUTOFF]], scored, frame[valued]], axis=1)


def whole_log_clv_models(
    events: pd.DataFrame | ibis.Table | None,
    snapshots: pd.DataFrame | ibis.Table,
    features: Mapping[str, Any],
) -> dict | None:
    """The clv feature family's fits on every customer of the log, made before the log is
    split by customer, so that no partition changes them; None when the family is off."""
    if events is None or not family_enabled(features, "clv"):
        return None
    if isinstance(snapshots, ibis.Table):
        cutoffs = snapshots.select(CUTOFF).distinct().to_pandas()[CUTOFF]
    else:
        cutoffs = pd.Series(snapshots[CUTOFF].unique())
    return fit_clv_models(events, cutoffs, dict(features))


def summarise_tiers(
    probability: np.ndarray,
    tier: np.ndarray,
    tiers: Mapping[str, Any],
    actions,
    value_at_risk: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Per tier, highest first: customers, expected positives (sum of probabilities), action,
    and the value at risk when customers were valued."""
    summary = [
        {
            "tier": name,
            "customers": int((tier == name).sum()),
            "expected": float(probability[tier == name].sum()),
            "action": (actions or {}).get(name),
        }
        for name in tier_names(tiers)
    ]
    if value_at_risk is not None:
        for row in summary:
            row[VALUE_AT_RISK] = float(value_at_risk[tier == row["tier"]].sum())
    return summary


class ChunkWriter:
    """Appends frames to one Parquet or CSV file (chosen by suffix) without holding them."""

    def __init__(self, path: Path, suffix: str):
        self.path = path
        self.suffix = suffix
        self.parquet_: pq.ParquetWriter | None = None
        self.rows_ = 0

    def append(self, frame: pd.DataFrame) -> None:
        """Write one chunk."""
        if self.suffix == ".csv":
            frame.to_csv(self.path, mode="a", header=self.rows_ == 0, index=False)
        else:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self.parquet_ is None:
                self.parquet_ = pq.ParquetWriter(self.path, table.schema)
            self.parquet_.write_table(table.cast(self.parquet_.schema))
        self.rows_ += len(frame)

    def close(self) -> None:
        """Finish the file (Parquet needs its footer)."""
        if self.parquet_ is not None:
            self.parquet_.close()


def score_to_file(
    model,
    spec: Mapping[str, Any],
    events: pd.DataFrame | ibis.Table | None,
    customers: pd.DataFrame | ibis.Table | None,
    snapshots: pd.DataFrame | ibis.Table,
    path: Path,
    *,
    chunk_size: int,
    reason_tiers: list[str],
    extra: Mapping[str, Any],
    psi_warn: float,
    progress: bool = True,
    partition_customers: int | None = None,
    customer_value: CustomerValue | None = None,
) -> ScoringSummary:
    """Score every snapshot in two passes and write the file atomically.

    The inputs (pandas frames, or Ibis tables on DuckDB that are never loaded whole) are
    first split by a hash of the customer id into partitions of about
    ``partition_customers`` customers (default: ``chunk_size``), written as Parquet to a
    temporary folder beside the output (see scoring/partitions.py). Capacity tiers rank all
    customers of the job, so the first pass computes features and probabilities partition
    by partition (spilled to a temporary Parquet file beside the output), tiers are then
    assigned over all probabilities, and the second pass reads the spill back in batches of
    ``chunk_size`` rows for actions and reasons. Memory stays bounded by the partition and
    chunk sizes (plus one float per customer). The output is written under a temporary name
    and renamed into place: a job that fails or is killed midway leaves no file at
    ``path``; the temporaries of a job killed too hard to remove them (``kill -9``) go with
    the next job.

    With ``customer_value`` each row also gets its customer's CLV outputs and
    ``value_at_risk``, and capacity tiers with ``rank_by: value_at_risk`` rank by it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    spill_base = path.with_name(f"{path.name}.features")
    partitions_base = path.with_name(f"{path.name}.partitions")
    for target in (path, spill_base, partitions_base):
        remove_abandoned_temporaries(target)
    temporary, spill = temporary_path(path), temporary_path(spill_base)
    profile = spec.get("profile") or {}
    drift = DriftAccumulator(profile, exclude=calendar_features(spec["features"]))
    tiers, actions = spec["scoring"]["tiers"], spec["scoring"].get("actions")
    check_ranking(tiers, customer_value is not None)
    clv_models = whole_log_clv_models(events, snapshots, spec["features"])
    try:
        with partition_events(
            events,
            customers,
            snapshots,
            temporary_path(partitions_base),
            partition_customers or chunk_size,
            scored_event_columns(events, spec),
        ) as partitions:
            progress_bar = tqdm(
                partitions,
                total=len(partitions),
                desc="scoring",
                unit="partition",
                disable=not progress,
            )
            writer = ChunkWriter(spill, ".parquet")
            ranked = spill_features(
                model, spec, progress_bar, writer, drift, customer_value, clv_models
            )
        if ranked.empty:
            raise DataValidationError("no eligible customer to score at this cutoff")
        probability = ranked[PROBABILITY].to_numpy()
        value_at_risk = ranked[VALUE_AT_RISK].to_numpy() if VALUE_AT_RISK in ranked else None
        tier = assign_ranked_tiers(probability, tiers, value_at_risk)
        writer = ChunkWriter(temporary, path.suffix)
        for scored in explain_spilled(model, spec, spill, tier, reason_tiers, chunk_size):
            writer.append(scored.assign(**extra))
        writer.close()
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
        spill.unlink(missing_ok=True)
    return ScoringSummary(
        rows=len(probability),
        partitions=len(partitions),
        tiers=summarise_tiers(probability, tier, tiers, actions, value_at_risk),
        clv_total=float(ranked["clv"].sum()) if "clv" in ranked else None,
        probability_quantiles={
            f"p{int(q * 100)}": float(np.quantile(probability, q)) for q in (0.1, 0.5, 0.9, 0.99)
        }
        | {"mean": float(probability.mean())},
        drift=drift.report(warn_above=psi_warn) if profile else None,
        drift_excluded=drift.excluded,
    )


def temporary_path(path: Path) -> Path:
    """Where this process writes ``path`` before the rename: ``.<name>.<host>.<pid>.tmp``."""
    return path.with_name(f".{path.name}.{host_name()}.{os.getpid()}.tmp")


def remove_abandoned_temporaries(path: Path) -> list[Path]:
    """Remove the temporary files (or folders) of ``path`` whose writer on this host is gone.

    A writer is gone when its pid no longer runs, or runs a process started after the file
    was last written (the pid was reused). Files of other hosts sharing the folder are
    theirs to clean up.
    """
    prefix, suffix = f".{path.name}.{host_name()}.", ".tmp"
    removed = []
    for candidate in path.parent.glob(f"{prefix}*{suffix}"):
        pid = candidate.name.removeprefix(prefix).removesuffix(suffix)
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        started = process_start_time(int(pid))
        with contextlib.suppress(FileNotFoundError):
            written = candidate.stat().st_mtime
            if not process_alive(int(pid)) or (started is not None and started > written):
                remove_path(candidate)
                removed.append(candidate)
    return removed


def remove_path(path: Path) -> None:
    """Remove a file, or a folder with its contents."""
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
