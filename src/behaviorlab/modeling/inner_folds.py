"""K customer-grouped folds of the rows tuning may see: a trial is scored on several
validation sets, so the noise of one does not pick the winning hyperparameters.

Only rows that no reported metric, early stop or calibration of the evaluation folds
depends on enter: test rows and calibration rows of the plan are left out (gate rows are
carved out before the table reaches training).

- Out-of-time: the outer split's periods. Customers are dealt into K groups by a salted
  hash; fold k validates on group k's rows in the validation period and trains on the other
  groups' rows whose label windows close before it starts. Each fold is out of time (it
  trains earlier than it validates) and grouped by customer.
- Customer CV: the tuning customers are dealt into K label-stratified customer folds.

With K = 1 the one fold is the plan's own tuning split.
"""

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from behaviorlab.data.contract import CUSTOMER_ID, CUTOFF, LABEL
from behaviorlab.errors import ConfigError
from behaviorlab.modeling.splits import (
    Split,
    SplitPlan,
    hash_customers,
    horizon_of,
    out_of_time_periods,
)


def out_of_bounds_rows(plan: SplitPlan, n_rows: int) -> np.ndarray:
    """A mask of the plan's test and calibration rows: what tuning must never see."""
    mask = np.zeros(n_rows, dtype=bool)
    for fold in plan.folds:
        mask[fold.test] = True
        mask[fold.calibrate] = True
    return mask


def out_of_time_folds(
    table: pd.DataFrame, plan: SplitPlan, cfg: Mapping[str, Any], k: int
) -> list[Split]:
    """K folds on the outer periods, customers dealt into groups by a salted hash."""
    periods = out_of_time_periods(table, cfg)
    cutoff = table[CUTOFF].to_numpy()
    label_end = cutoff + horizon_of(cfg)
    usable = ~out_of_bounds_rows(plan, len(table))
    train = usable & (cutoff < periods.train_end) & (label_end <= periods.valid_start)
    valid = usable & (cutoff >= periods.valid_start) & (cutoff < periods.test_start)
    valid &= label_end <= periods.test_start
    group = np.floor(hash_customers(table[CUSTOMER_ID], f"{cfg['salt']}|inner") * k)
    return [
        Split(
            train=np.flatnonzero(train & (group != g)), valid=np.flatnonzero(valid & (group == g))
        )
        for g in range(k)
    ]


def customer_cv_folds(
    table: pd.DataFrame, plan: SplitPlan, cfg: Mapping[str, Any], k: int
) -> list[Split]:
    """K label-stratified customer folds of the tuning customers."""
    rows = np.sort(plan.tuning_rows())
    folds = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=int(cfg["seed"]))
    labels = table[LABEL].to_numpy()[rows]
    groups = table[CUSTOMER_ID].to_numpy()[rows]
    return [
        Split(train=rows[learn], valid=rows[held])
        for learn, held in folds.split(rows, labels, groups)
    ]


FOLDERS = {"out_of_time": out_of_time_folds, "customer_cv": customer_cv_folds}


def check_folds(folds: list[Split], labels: np.ndarray) -> None:
    """Every fold needs training rows and both classes among its validation rows."""
    for number, fold in enumerate(folds):
        if len(fold.train) == 0 or len(np.unique(labels[fold.valid])) < 2:
            raise ConfigError(
                f"tuning.inner_folds={len(folds)}: inner fold {number} has no training rows "
                "or one label class only among its validation rows; lower tuning.inner_folds"
            )


def make_inner_folds(
    table: pd.DataFrame, plan: SplitPlan, split_cfg: Mapping[str, Any], k: int
) -> list[Split]:
    """The folds a trial is scored on (the objective is their mean validation ROC AUC)."""
    if k < 1:
        raise ConfigError(f"tuning.inner_folds must be an integer >= 1, got {k}")
    if k == 1:
        return [plan.tuning]
    folds = FOLDERS[split_cfg["kind"]](table, plan, split_cfg, k)
    check_folds(folds, table[LABEL].to_numpy())
    return folds
