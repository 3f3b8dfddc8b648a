"""Batch scoring at a cutoff: features from raw events with the model's own spec, in chunks.

Events are sorted by customer once; each chunk of customers then takes a contiguous slice,
so memory stays bounded by the chunk size whatever the number of customers.
"""

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from behaviorlab.data.contract import CUSTOMER_ID, CUTOFF, TIMESTAMP
from behaviorlab.errors import ConfigError, DataValidationError
from behaviorlab.features.builder import build_features
from behaviorlab.features.labels import eligible_snapshots
from behaviorlab.features.snapshots import make_calendar_snapshots, make_relative_snapshots
from behaviorlab.processes import host_name, process_alive, process_start_time
from behaviorlab.scoring.drift import DriftAccumulator
from behaviorlab.scoring.predict import score_features


@dataclass
class ScoringSummary:
    """What a scoring job did, for the printed summary and the MLflow scoring run."""

    rows: int = 0
    tier_counts: dict[str, int] = field(default_factory=dict)
    probability_quantiles: dict[str, float] = field(default_factory=dict)
    drift: pd.DataFrame | None = None


def default_cutoff(events: pd.DataFrame) -> pd.Timestamp:
    """End of data: midnight after the last event, so every event counts as history."""
    return events[TIMESTAMP].max().normalize() + pd.Timedelta(days=1)


def scoring_snapshots(
    events: pd.DataFrame,
    customers: pd.DataFrame | None,
    task: Mapping[str, Any],
    cutoff,
    window_days: int | None = None,
) -> pd.DataFrame:
    """The snapshots the task defines at a scoring cutoff, with the task's eligibility.

    Calendar tasks score every customer at the cutoff itself. Signup-relative tasks score
    each customer at their own snapshot (signup + N days), as in training, for customers
    whose snapshot falls in the ``window_days`` before the cutoff (default: the task's
    horizon, while the predicted outcome is still open); older snapshots are history.
    """
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


def iter_chunks(
    events: pd.DataFrame, customers: pd.DataFrame | None, snapshots: pd.DataFrame, size: int
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]]:
    """Yield (snapshots, events, customers) for consecutive groups of customers.

    Events and customers are sorted by id once; each chunk then takes contiguous slices.
    """
    events = events.sort_values(CUSTOMER_ID, kind="stable", ignore_index=True)
    snapshots = snapshots.sort_values(CUSTOMER_ID, kind="stable", ignore_index=True)
    event_ids = events[CUSTOMER_ID].to_numpy()
    if customers is not None:
        customers = customers.sort_values(CUSTOMER_ID, kind="stable", ignore_index=True)
        customer_ids = customers[CUSTOMER_ID].to_numpy()
    for start in range(0, len(snapshots), size):
        chunk = snapshots.iloc[start : start + size]
        bounds = chunk[CUSTOMER_ID].iloc[0], chunk[CUSTOMER_ID].iloc[-1]
        chunk_customers = None
        if customers is not None:
            chunk_customers = customers.iloc[id_range(customer_ids, *bounds)]
        yield chunk, events.iloc[id_range(event_ids, *bounds)], chunk_customers


def id_range(sorted_ids: np.ndarray, first: str, last: str) -> slice:
    """Positions of the ids in [first, last] within a sorted id array."""
    return slice(
        np.searchsorted(sorted_ids, first, "left"), np.searchsorted(sorted_ids, last, "right")
    )


def check_feature_inputs(features: pd.DataFrame, feature_names: list[str]) -> None:
    """Name the model inputs the rebuilt features lack (e.g. a missing attribute column)."""
    missing = [name for name in feature_names if name not in features.columns]
    if missing:
        raise DataValidationError(
            f"cannot score: the data provides no input for model features {missing}"
        )


def score_chunks(
    model,
    spec: Mapping[str, Any],
    events: pd.DataFrame,
    customers: pd.DataFrame | None,
    snapshots: pd.DataFrame,
    chunk_size: int,
    reason_tiers: list[str],
    progress: bool = True,
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """Yield (snapshot keys + scores, features) chunk by chunk."""
    names = spec["feature_names"]
    scoring = spec["scoring"]
    chunks = iter_chunks(events, customers, snapshots, chunk_size)
    total = -(-len(snapshots) // chunk_size)
    for chunk, chunk_events, chunk_customers in tqdm(
        chunks, total=total, desc="scoring", unit="chunk", disable=not progress
    ):
        built = build_features(chunk_events, chunk_customers, chunk, spec["features"])
        features = chunk.merge(built, on=[CUSTOMER_ID, CUTOFF], how="left")
        check_feature_inputs(features, names)
        scored = score_features(
            model, features[names], scoring["tiers"], reason_tiers, scoring["n_reasons"]
        )
        keys = features[[CUSTOMER_ID, CUTOFF]].reset_index(drop=True)
        yield pd.concat([keys, scored], axis=1), features[names]


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


def write_scores(
    chunks: Iterator[tuple[pd.DataFrame, pd.DataFrame]],
    path: Path,
    extra: Mapping[str, Any],
    profile: Mapping[str, Any] | None,
    psi_warn: float,
) -> ScoringSummary:
    """Stream scored chunks to Parquet or CSV under a temporary name, then rename into place.

    A job that fails or is killed midway leaves no file at ``path``; the temporary file of
    a job killed too hard to remove it (``kill -9``) is removed by the next job.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned_temporaries(path)
    temporary = temporary_path(path)
    writer = ChunkWriter(temporary, path.suffix)
    drift = DriftAccumulator(profile or {})
    summary = ScoringSummary()
    probabilities = []
    try:
        for scored, features in chunks:
            scored = scored.assign(**extra)
            for tier, count in scored["tier"].value_counts().items():
                summary.tier_counts[tier] = summary.tier_counts.get(tier, 0) + int(count)
            probabilities.append(scored["probability"].to_numpy())
            drift.update(features)
            writer.append(scored)
        writer.close()
        if writer.rows_ == 0:
            raise DataValidationError("no eligible customer to score at this cutoff")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    summary.rows = writer.rows_
    all_p = np.concatenate(probabilities)
    summary.probability_quantiles = {
        f"p{int(q * 100)}": float(np.quantile(all_p, q)) for q in (0.1, 0.5, 0.9, 0.99)
    } | {"mean": float(all_p.mean())}
    summary.drift = drift.report(warn_above=psi_warn) if profile else None
    return summary


def temporary_path(path: Path) -> Path:
    """Where this process writes ``path`` before the rename: ``.<name>.<host>.<pid>.tmp``."""
    return path.with_name(f".{path.name}.{host_name()}.{os.getpid()}.tmp")


def remove_abandoned_temporaries(path: Path) -> list[Path]:
    """Remove the temporary files of ``path`` whose writer on this host is gone.

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
                candidate.unlink()
                removed.append(candidate)
    return removed
