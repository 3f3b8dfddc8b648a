"""Comparing trained runs on the rows they all held out: the metrics table, the shared rows
and the paired difference of each run against a baseline.

Two runs' test figures are only comparable on the same rows. The gate rows (customers no
model saw, scored by each run) are the first choice; the test holdout is the fallback when
the runs share its rows (same data and split). Rows whose labels disagree between runs (a
different task or data on the same customers) are not the same rows and are left out.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from behaviorlab.data.contract import CUSTOMER_ID, CUTOFF, LABEL
from behaviorlab.modeling.evaluation import bootstrap_differences

KEYS = [CUSTOMER_ID, CUTOFF]
PROBABILITY = "probability"
GATE, HOLDOUT = "gate", "holdout"
SOURCE_WORDS = {
    GATE: "gate holdout rows (customers no model saw)",
    HOLDOUT: "test holdout rows",
}
TABLE_METRICS = (
    "test_roc_auc",
    "test_roc_auc_ci_low",
    "test_roc_auc_ci_high",
    "test_pr_auc",
    "test_brier",
    "val_roc_auc",
)
DIFFERENCE_METRICS = ("roc_auc", "pr_auc", "brier")


@dataclass(frozen=True)
class SharedRows:
    """Rows several runs hold: ``frame`` has the keys, ``label`` and one probability column
    per run label; ``source`` is gate, holdout or None (no shared rows)."""

    source: str | None
    frame: pd.DataFrame
    label_conflicts: int = 0

    @property
    def n_customers(self) -> int:
        return int(self.frame[CUSTOMER_ID].nunique())

    def describe(self) -> str:
        """One sentence saying which rows and how many."""
        if self.source is None:
            return "no shared rows"
        text = f"{len(self.frame):,} {SOURCE_WORDS[self.source]}, {self.n_customers:,} customers"
        if self.label_conflicts:
            text += f" ({self.label_conflicts:,} rows left out: their labels disagree)"
        return text


@dataclass(frozen=True)
class PairDifference:
    """One run against the baseline: the rows used and, when there are any, the differences
    (run minus baseline) with their two-sided interval."""

    label: str
    rows: SharedRows
    differences: dict[str, dict[str, float]] | None


def label_runs(names: Sequence[str], run_ids: Sequence[str]) -> list[str]:
    """Run names as labels; a name two runs share gets the start of each run id."""
    counts = pd.Series(list(names)).value_counts()
    return [
        f"{name} ({run_id[:8]})" if counts[name] > 1 else name
        for name, run_id in zip(names, run_ids, strict=True)
    ]


def metrics_table(labels: Sequence[str], metrics: Sequence[Mapping[str, float]]) -> pd.DataFrame:
    """The headline test metrics each run logged, one row per run (NaN where it logged none)."""
    rows = [
        {"run": label, **{name: float(logged.get(name, np.nan)) for name in TABLE_METRICS}}
        for label, logged in zip(labels, metrics, strict=True)
    ]
    return pd.DataFrame(rows, columns=["run", *TABLE_METRICS])


def join_scores(frames: Mapping[str, pd.DataFrame]) -> tuple[pd.DataFrame, int]:
    """Rows every frame holds, on (customer_id, cutoff): the label and each run's probability
    under its label; also how many key-matched rows were dropped for disagreeing labels."""
    joined = None
    for label, frame in frames.items():
        part = frame[[*KEYS, LABEL, PROBABILITY]].rename(
            columns={LABEL: f"{LABEL}:{label}", PROBABILITY: label}
        )
        joined = part if joined is None else joined.merge(part, on=KEYS, how="inner")
    label_columns = [f"{LABEL}:{label}" for label in frames]
    agree = joined[label_columns].nunique(axis=1) == 1
    joined = joined.loc[agree].rename(columns={label_columns[0]: LABEL})
    joined = joined.drop(columns=label_columns[1:])
    joined = joined[[*KEYS, LABEL, *frames]].sort_values(KEYS, ignore_index=True)
    return joined, int((~agree).sum())


def shared_rows(
    gate: Mapping[str, pd.DataFrame | None], holdout: Mapping[str, pd.DataFrame]
) -> SharedRows:
    """The gate rows all runs scored, else the test rows they all held out, else none."""
    if all(frame is not None for frame in gate.values()):
        joined, conflicts = join_scores(gate)
        if len(joined):
            return SharedRows(GATE, joined, conflicts)
    joined, conflicts = join_scores(holdout)
    return SharedRows(HOLDOUT if len(joined) else None, joined, conflicts)


def difference_to_baseline(
    rows: SharedRows, baseline: str, label: str, n_boot: int, seed: int, level: float
) -> dict[str, dict[str, float]] | None:
    """Paired bootstrap of metric(run) - metric(baseline) with its two-sided ``level``
    interval; None when the rows cannot support one (none, or a single class)."""
    frame = rows.frame
    if rows.source is None or frame[LABEL].nunique() < 2:
        return None
    found = bootstrap_differences(
        frame[LABEL].to_numpy(),
        frame[label].to_numpy(),
        frame[baseline].to_numpy(),
        n_boot=n_boot,
        seed=seed,
        alpha=(1 - level) / 2,
    )
    return {name: found[name] for name in DIFFERENCE_METRICS}


def compare_to_baseline(
    gate: Mapping[str, pd.DataFrame | None],
    holdout: Mapping[str, pd.DataFrame],
    n_boot: int,
    seed: int,
    level: float,
) -> list[PairDifference]:
    """Each run after the first against the first, on the rows the two share."""
    baseline, *others = list(holdout)
    pairs = []
    for label in others:
        rows = shared_rows(
            {name: gate[name] for name in (baseline, label)},
            {name: holdout[name] for name in (baseline, label)},
        )
        found = difference_to_baseline(rows, baseline, label, n_boot, seed, level)
        pairs.append(PairDifference(label, rows, found))
    return pairs
