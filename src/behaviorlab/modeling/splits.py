"""Row splits grouped by customer: out-of-time by default, customer k-fold for one cutoff.

Out-of-time: customers are assigned by a stable hash of their id to a training group or a
held-out group (``held_out_fraction``). Training rows are training-group customers at the
earlier cutoffs; validation rows are held-out customers at the next ``n_valid_cutoffs``
cutoffs, test rows held-out customers at the latest ``n_test_cutoffs``. A customer therefore
never sits on both the training and the held-out side, and the held-out side is later in
time. Rows of training customers at later cutoffs and of held-out customers at earlier
cutoffs are left unused: that is the price of both rules at once. With ``horizon_days``
(the task's label horizon) a row is used only if its label window closes before the next
part begins: training labels never watch the validation period, nor validation labels the
test period. ``gap_cutoffs`` drops further training cutoffs before validation.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold

from behaviorlab.data.contract import CUSTOMER_ID, CUTOFF, LABEL
from behaviorlab.errors import ConfigError

HASH_BUCKETS = 10_000


@dataclass(frozen=True)
class Split:
    """Positional row indices of one train/valid/test partition of a training table."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray


def hash_customers(customer_ids: pd.Series, salt: str) -> np.ndarray:
    """A stable value in [0, 1) per row from the customer id, identical across runs."""
    keyed = customer_ids.astype("str") + "|" + salt
    hashed = pd.util.hash_pandas_object(keyed, index=False).to_numpy()
    return (hashed % HASH_BUCKETS) / HASH_BUCKETS


def split_out_of_time(table: pd.DataFrame, cfg: Mapping[str, Any]) -> Split:
    """Train on earlier cutoffs, validate on the next, test on the latest, grouped by customer."""
    n_valid = int(cfg.get("n_valid_cutoffs", 1))
    n_test = int(cfg.get("n_test_cutoffs", 1))
    gap = int(cfg.get("gap_cutoffs", 0))
    cutoffs = np.sort(table[CUTOFF].unique())
    needed = n_valid + n_test + gap + 1
    if len(cutoffs) < needed:
        raise ConfigError(
            f"out-of-time split needs at least {needed} cutoffs ({n_valid} valid, {n_test} "
            f"test, {gap} gap, 1+ train) but the table has {len(cutoffs)}; "
            "use split=customer_cv for a single-cutoff table"
        )
    held_out = hash_customers(table[CUSTOMER_ID], str(cfg.get("salt", "split"))) < float(
        cfg.get("held_out_fraction", 0.3)
    )
    valid_cutoffs = cutoffs[-(n_valid + n_test) : len(cutoffs) - n_test]
    test_cutoffs = cutoffs[len(cutoffs) - n_test :]
    cutoff = table[CUTOFF].to_numpy()
    label_end = cutoff + np.timedelta64(int(cfg.get("horizon_days") or 0), "D")
    train = ~held_out & (cutoff < cutoffs[len(cutoffs) - n_test - n_valid - gap])
    train &= label_end <= valid_cutoffs[0]
    valid = held_out & np.isin(cutoff, valid_cutoffs) & (label_end <= test_cutoffs[0])
    test = held_out & np.isin(cutoff, test_cutoffs)
    if not train.any() or not valid.any():
        raise ConfigError(
            f"out-of-time split: no {'training' if not train.any() else 'validation'} row "
            f"whose {cfg.get('horizon_days')}-day label window closes before the next part "
            "starts; space the snapshot cutoffs at least the horizon apart"
        )
    if table[LABEL].to_numpy()[valid].min() == table[LABEL].to_numpy()[valid].max():
        raise ConfigError(
            "out-of-time split: the validation cutoffs hold one label class only, so no "
            "trial can be scored; use more or wider-spaced calendar cutoffs"
        )
    return Split(np.flatnonzero(train), np.flatnonzero(valid), np.flatnonzero(test))


def carve_valid(
    table: pd.DataFrame, rows: np.ndarray, valid_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Hold out a share of the customers in ``rows`` for early stopping and calibration."""
    carver = GroupShuffleSplit(n_splits=1, test_size=valid_fraction, random_state=seed)
    groups = table[CUSTOMER_ID].to_numpy()[rows]
    inner_train, inner_valid = next(carver.split(rows, groups=groups))
    return rows[inner_train], rows[inner_valid]


def split_customer_cv(table: pd.DataFrame, cfg: Mapping[str, Any]) -> list[Split]:
    """k stratified folds grouped by customer; each fold's train gives up a valid part."""
    seed = int(cfg.get("seed", 0))
    folds = StratifiedGroupKFold(
        n_splits=int(cfg.get("n_folds", 5)), shuffle=True, random_state=seed
    )
    labels = table[LABEL].to_numpy()
    groups = table[CUSTOMER_ID].to_numpy()
    splits = []
    for number, (rest, test) in enumerate(folds.split(np.zeros(len(table)), labels, groups)):
        train, valid = carve_valid(
            table, rest, float(cfg.get("valid_fraction", 0.2)), seed + number
        )
        splits.append(Split(train, valid, test))
    return splits


SPLITTERS: dict[str, Callable[[pd.DataFrame, Mapping[str, Any]], list[Split]]] = {
    "out_of_time": lambda table, cfg: [split_out_of_time(table, cfg)],
    "customer_cv": split_customer_cv,
}


def make_splits(table: pd.DataFrame, cfg: Mapping[str, Any]) -> list[Split]:
    """The splits named by ``cfg['kind']``: one for out-of-time, k for customer CV."""
    kind = cfg.get("kind")
    if kind not in SPLITTERS:
        raise ConfigError(f"unknown split kind {kind!r}; choose one of {sorted(SPLITTERS)}")
    return SPLITTERS[kind](table, cfg)


def summarise_split(table: pd.DataFrame, split: Split) -> dict[str, float]:
    """Rows, customers and label rate per part: what a reviewer checks first."""
    summary: dict[str, float] = {}
    for part in ("train", "valid", "test"):
        rows = table.iloc[getattr(split, part)]
        summary[f"{part}_rows"] = len(rows)
        summary[f"{part}_customers"] = rows[CUSTOMER_ID].nunique()
        summary[f"{part}_label_rate"] = float(rows[LABEL].mean()) if len(rows) else float("nan")
    return summary
