"""Row splits grouped by customer: out-of-time by default, customer k-fold for one cutoff.

Every split has four parts, each with one job, so that no row whose prediction enters a
test metric influenced hyperparameters, early stopping or calibration:

- ``train``: rows the model is fitted on;
- ``valid``: rows for early stopping (and, in the tuning split, for scoring trials);
- ``calibrate``: rows for the calibrator only, other customers than ``valid``'s, so the
  calibrator sees scores as honest as the test rows' (early stopping picked the number of
  trees on ``valid``, which makes its scores optimistic);
- ``test``: rows scored once for the reported metrics.

A :class:`SplitPlan` adds the tuning split: the rows the Optuna objective sees.

Out-of-time: customers are put on a training side or a held-out side. Training rows are
training-side customers at the earlier dates; validation rows are held-out customers in the
next period, test rows held-out customers in the latest period. A customer therefore never
sits on both sides, and the held-out side is later in time. With ``horizon_days`` (the
task's label horizon) a row is used only if its label window closes before the next part
begins: training labels never watch the validation period, nor validation labels the test
period. The periods and sides depend on the snapshots (``snapshots``, the task's kind):

- ``calendar``: every customer shares a few cutoff dates; the latest ``n_test_cutoffs``
  are the test period, the ``n_valid_cutoffs`` before them validation, and
  ``gap_cutoffs`` further cutoffs are dropped before validation. A stable hash of the
  customer id puts ``held_out_fraction`` of the customers on the held-out side; rows of
  training customers at later cutoffs and of held-out customers at earlier ones are left
  unused: the price of both rules at once.
- ``relative``: each customer has its own cutoff (signup + N days), so periods are shares
  of the snapshot rows ordered by date: the latest ``test_share`` for test, the
  ``valid_share`` before for validation, the earlier rows for training. A customer is on
  the side of its first snapshot; with one snapshot each, every row of a period is used.

The tuning split is the out-of-time split's train and valid parts: test rows are later.

Customer CV: a ``tuning_fraction`` of the customers is set aside for tuning and never
tested; the other customers are dealt into k stratified folds. Tuning customers join
every fold's learning rows (learning from rows that shaped the hyperparameters is fine;
only test rows must not have), so hyperparameters are tuned once, on rows no fold tests.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold

from behaviorlab.data.contract import CUSTOMER_ID, CUTOFF, LABEL
from behaviorlab.errors import ConfigError

HASH_BUCKETS = 10_000
NO_ROWS = np.empty(0, dtype=int)
PARTS = ("train", "valid", "calibrate", "test")


@dataclass(frozen=True)
class Split:
    """Positional row indices of one train/valid/calibrate/test partition of a table."""

    train: np.ndarray
    valid: np.ndarray
    calibrate: np.ndarray = field(default_factory=lambda: NO_ROWS)
    test: np.ndarray = field(default_factory=lambda: NO_ROWS)


@dataclass(frozen=True)
class SplitPlan:
    """The rows tuning sees (``tuning.train``/``tuning.valid``) and the evaluation folds."""

    tuning: Split
    folds: list[Split]

    def tuning_rows(self) -> np.ndarray:
        """Every row the tuning objective fits on or scores."""
        return np.concatenate([self.tuning.train, self.tuning.valid])

    def test_rows(self) -> np.ndarray:
        """Every row whose prediction enters the reported test metrics (all folds)."""
        return np.concatenate([fold.test for fold in self.folds])


def hash_customers(customer_ids: pd.Series, salt: str) -> np.ndarray:
    """A stable value in [0, 1) per row from the customer id, identical across runs."""
    keyed = customer_ids.astype("str") + "|" + salt
    hashed = pd.util.hash_pandas_object(keyed, index=False).to_numpy()
    return (hashed % HASH_BUCKETS) / HASH_BUCKETS


def check_share(cfg: Mapping[str, Any], key: str) -> float:
    """A fraction strictly between 0 and 1, or a clear config error."""
    value = float(cfg[key])
    if not 0 < value < 1:
        raise ConfigError(f"split.{key} must be strictly between 0 and 1, got {value}")
    return value


def horizon_of(cfg: Mapping[str, Any]) -> np.timedelta64:
    """The label horizon as a timedelta; ``horizon_days: null`` says the task has none."""
    return np.timedelta64(int(cfg["horizon_days"] or 0), "D")


@dataclass(frozen=True)
class Periods:
    """Date bounds: train before ``train_end``, valid in [valid_start, test_start), test after."""

    train_end: np.datetime64
    valid_start: np.datetime64
    test_start: np.datetime64


def calendar_periods(table: pd.DataFrame, cfg: Mapping[str, Any]) -> Periods:
    """Periods on shared cutoff dates: the latest ones for test, the ones before for valid."""
    n_valid = int(cfg["n_valid_cutoffs"])
    n_test = int(cfg["n_test_cutoffs"])
    gap = int(cfg["gap_cutoffs"])
    cutoffs = np.sort(table[CUTOFF].unique())
    needed = n_valid + n_test + gap + 1
    if len(cutoffs) < needed:
        raise ConfigError(
            f"out-of-time split needs at least {needed} cutoffs ({n_valid} valid, {n_test} "
            f"test, {gap} gap, 1+ train) but the table has {len(cutoffs)}; "
            "use split=customer_cv for a single-cutoff table"
        )
    return Periods(
        train_end=cutoffs[len(cutoffs) - n_test - n_valid - gap],
        valid_start=cutoffs[len(cutoffs) - n_test - n_valid],
        test_start=cutoffs[len(cutoffs) - n_test],
    )


def relative_periods(table: pd.DataFrame, cfg: Mapping[str, Any]) -> Periods:
    """Periods on shares of the rows ordered by snapshot date (per-customer cutoffs)."""
    test_share = check_share(cfg, "test_share")
    valid_share = check_share(cfg, "valid_share")
    if test_share + valid_share >= 1:
        raise ConfigError("split.test_share + split.valid_share must leave rows for training")
    dates = np.sort(table[CUTOFF].to_numpy())
    test_start = dates[int(len(dates) * (1 - test_share))]
    valid_start = dates[int(len(dates) * (1 - test_share - valid_share))]
    if not dates[0] < valid_start < test_start:
        raise ConfigError(
            f"out-of-time split by snapshot date: the {len(dates)} snapshots fall on "
            f"{len(np.unique(dates))} distinct dates ({describe_span(dates)}), too few to "
            f"put the latest {test_share:.0%} in test, the {valid_share:.0%} before in "
            "validation and earlier dates in training; use split=customer_cv"
        )
    return Periods(train_end=valid_start, valid_start=valid_start, test_start=test_start)


PERIODS: dict[str, Callable[[pd.DataFrame, Mapping[str, Any]], Periods]] = {
    "calendar": calendar_periods,
    "relative": relative_periods,
}


def describe_span(dates: np.ndarray) -> str:
    """'first .. last, N days' of a sorted array of dates."""
    days = int((dates[-1] - dates[0]) / np.timedelta64(1, "D"))
    return f"{str(dates[0])[:10]} .. {str(dates[-1])[:10]}, {days} days"


def explain_empty_part(part: str, snapshots: str, periods: Periods, cfg, dates) -> str:
    """Why no row of ``part`` survives the purge of overlapping label windows."""
    horizon = int(cfg["horizon_days"] or 0)
    start, end = (
        (periods.valid_start, periods.test_start)
        if part == "validation"
        else (dates[0], periods.valid_start)
    )
    days = int((end - start) / np.timedelta64(1, "D"))
    head = (
        f"out-of-time split: no {part} row whose {horizon}-day label window closes before the "
        f"next part starts ({part} dates {str(start)[:10]} .. {str(end)[:10]}, {days} days)"
    )
    if snapshots == "relative":
        return (
            f"{head}; the snapshot dates ({describe_span(dates)}) are too short a span for "
            "a training, a validation and a test period with the label horizon between "
            "them: use data covering a longer period, raise split.valid_share or use "
            "split=customer_cv"
        )
    return (
        f"{head}; calendar cutoffs must be at least the horizon apart. If each customer "
        "has its own cutoff (relative snapshots, e.g. signup + N days), split by snapshot "
        "date instead: split.snapshots=relative"
    )


def hold_out_by_hash(table: pd.DataFrame, cfg: Mapping[str, Any], periods: Periods) -> np.ndarray:
    """Calendar: a stable ``held_out_fraction`` of customers, who appear at every cutoff."""
    salt = str(cfg["salt"])
    return hash_customers(table[CUSTOMER_ID], salt) < float(cfg["held_out_fraction"])


def hold_out_by_first_date(
    table: pd.DataFrame, cfg: Mapping[str, Any], periods: Periods
) -> np.ndarray:
    """Relative: customers whose first snapshot falls in the validation or test period.

    With one snapshot per customer the periods alone keep customers apart, so every row of
    a period is used; a customer with several snapshots stays on the side of the first.
    """
    first = table.groupby(CUSTOMER_ID, observed=True)[CUTOFF].transform("min").to_numpy()
    return first >= periods.valid_start


HELD_OUT: dict[str, Callable[[pd.DataFrame, Mapping[str, Any], Periods], np.ndarray]] = {
    "calendar": hold_out_by_hash,
    "relative": hold_out_by_first_date,
}


def snapshots_of(cfg: Mapping[str, Any]) -> str:
    """The snapshot kind the periods follow: ``calendar`` or ``relative``."""
    snapshots = str(cfg["snapshots"])
    if snapshots not in PERIODS:
        raise ConfigError(f"split.snapshots must be one of {sorted(PERIODS)}, got {snapshots!r}")
    return snapshots


def out_of_time_periods(table: pd.DataFrame, cfg: Mapping[str, Any]) -> Periods:
    """The date bounds of the out-of-time parts (rows from ``test_start`` on are tested)."""
    return PERIODS[snapshots_of(cfg)](table, cfg)


def split_out_of_time(table: pd.DataFrame, cfg: Mapping[str, Any]) -> Split:
    """Train on earlier dates, validate on the next, test on the latest, grouped by customer."""
    snapshots = snapshots_of(cfg)
    periods = out_of_time_periods(table, cfg)
    salt = str(cfg["salt"])
    held_out = HELD_OUT[snapshots](table, cfg, periods)
    cutoff = table[CUTOFF].to_numpy()
    label_end = cutoff + horizon_of(cfg)
    train = ~held_out & (cutoff < periods.train_end) & (label_end <= periods.valid_start)
    valid = held_out & (cutoff >= periods.valid_start) & (cutoff < periods.test_start)
    valid &= label_end <= periods.test_start
    test = held_out & (cutoff >= periods.test_start)
    for part, rows in (("training", train), ("validation", valid)):
        if not rows.any():
            dates = np.sort(cutoff)
            raise ConfigError(explain_empty_part(part, snapshots, periods, cfg, dates))
    if table[LABEL].to_numpy()[valid].min() == table[LABEL].to_numpy()[valid].max():
        remedy = (
            "raise split.valid_share"
            if snapshots == "relative"
            else "use more or wider-spaced calendar cutoffs"
        )
        raise ConfigError(
            "out-of-time split: the validation period holds one label class only, so no "
            f"trial can be scored; {remedy}"
        )
    share = check_share(cfg, "calibration_share")
    calibrate = valid & (hash_customers(table[CUSTOMER_ID], f"{salt}|calibrate") < share)
    return Split(
        train=np.flatnonzero(train),
        valid=np.flatnonzero(valid & ~calibrate),
        calibrate=np.flatnonzero(calibrate),
        test=np.flatnonzero(test),
    )


def plan_out_of_time(table: pd.DataFrame, cfg: Mapping[str, Any]) -> SplitPlan:
    """One out-of-time split; tuning fits on its train rows and scores its valid rows."""
    split = split_out_of_time(table, cfg)
    return SplitPlan(tuning=Split(train=split.train, valid=split.valid), folds=[split])


def carve_customers(
    table: pd.DataFrame, rows: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``rows`` by customer: (the rest, a ``fraction`` of the customers)."""
    carver = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    groups = table[CUSTOMER_ID].to_numpy()[rows]
    kept, carved = next(carver.split(rows, groups=groups))
    return rows[kept], rows[carved]


def carve_learning(
    table: pd.DataFrame, rows: np.ndarray, cfg: Mapping[str, Any], seed: int
) -> Split:
    """Learning rows into train, valid (early stopping) and calibrate, grouped by customer."""
    valid_fraction = check_share(cfg, "valid_fraction")
    train, held = carve_customers(table, rows, valid_fraction, seed)
    valid, calibrate = carve_customers(table, held, check_share(cfg, "calibration_share"), seed)
    return Split(train=train, valid=valid, calibrate=calibrate)


def split_all_rows(table: pd.DataFrame, cfg: Mapping[str, Any]) -> Split:
    """Every row for learning, none for test: the final refit after customer CV."""
    return carve_learning(table, np.arange(len(table)), cfg, int(cfg["seed"]))


def plan_customer_cv(table: pd.DataFrame, cfg: Mapping[str, Any]) -> SplitPlan:
    """Tuning customers apart, then k stratified customer folds over the other customers."""
    seed = int(cfg["seed"])
    tuning_fraction = check_share(cfg, "tuning_fraction")
    is_tuning = hash_customers(table[CUSTOMER_ID], f"{seed}|tuning") < tuning_fraction
    tuning_rows, rest = np.flatnonzero(is_tuning), np.flatnonzero(~is_tuning)
    tuning_train, tuning_valid = carve_customers(
        table, tuning_rows, check_share(cfg, "valid_fraction"), seed
    )
    folds = StratifiedGroupKFold(n_splits=int(cfg["n_folds"]), shuffle=True, random_state=seed)
    labels = table[LABEL].to_numpy()[rest]
    groups = table[CUSTOMER_ID].to_numpy()[rest]
    splits = []
    for number, (others, tested) in enumerate(folds.split(rest, labels, groups)):
        learning = np.sort(np.concatenate([tuning_rows, rest[others]]))
        parts = carve_learning(table, learning, cfg, seed + number)
        splits.append(Split(parts.train, parts.valid, parts.calibrate, rest[tested]))
    return SplitPlan(tuning=Split(train=tuning_train, valid=tuning_valid), folds=splits)


PLANNERS: dict[str, Callable[[pd.DataFrame, Mapping[str, Any]], SplitPlan]] = {
    "out_of_time": plan_out_of_time,
    "customer_cv": plan_customer_cv,
}


def make_splits(table: pd.DataFrame, cfg: Mapping[str, Any]) -> SplitPlan:
    """The plan named by ``cfg['kind']``: one fold for out-of-time, k for customer CV."""
    kind = cfg["kind"]
    if kind not in PLANNERS:
        raise ConfigError(f"unknown split kind {kind!r}; choose one of {sorted(PLANNERS)}")
    return PLANNERS[kind](table, cfg)


def summarise_split(table: pd.DataFrame, split: Split) -> dict[str, float]:
    """Rows, customers and label rate per part: what a reviewer checks first."""
    summary: dict[str, float] = {}
    for part in PARTS:
        rows = table.iloc[getattr(split, part)]
        summary[f"{part}_rows"] = len(rows)
        summary[f"{part}_customers"] = rows[CUSTOMER_ID].nunique()
        summary[f"{part}_label_rate"] = float(rows[LABEL].mean()) if len(rows) else float("nan")
    return summary
