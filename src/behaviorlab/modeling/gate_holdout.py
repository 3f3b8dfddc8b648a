"""The gate holdout: customers no model registered under a name ever trains on.

A salted hash of ``customer_id`` puts a fixed share of customers aside before any split,
tuning, early stopping or calibration. Every training job for a registered name carves the
same customers (same salt and fraction, recorded on each version), so the champion and a
later challenger can be compared on rows neither of them saw, whatever data each was
trained on and whichever split kind it used.

Which of those rows the gate scores: under the out-of-time split, the gate customers'
rows in the test period (the latest cutoffs, or the latest snapshot dates for relative
snapshots: the period a deployed model faces next); for a customer-CV table (one cutoff,
or cutoffs without time order) all of them.
"""

import numpy as np
import pandas as pd

from behaviorlab.data.contract import CUSTOMER_ID, CUTOFF
from behaviorlab.errors import ConfigError
from behaviorlab.modeling.splits import hash_customers


def gate_customer_mask(customer_ids: pd.Series, fraction: float, salt: str) -> np.ndarray:
    """True for rows whose customer belongs to the gate holdout (stable across runs)."""
    if not 0 < fraction < 1:
        raise ConfigError(f"registry.gate.holdout_fraction must be in (0, 1), not {fraction}")
    return hash_customers(customer_ids, salt) < fraction


def carve_gate_holdout(
    table: pd.DataFrame, fraction: float, salt: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, gate rows): whole customers go to one side, never both."""
    gate = gate_customer_mask(table[CUSTOMER_ID], fraction, salt)
    return table[~gate].reset_index(drop=True), table[gate].reset_index(drop=True)


def rows_in_test_period(rows: pd.DataFrame, test_start) -> pd.DataFrame:
    """The rows from ``test_start`` on (the out-of-time test period); every row when None."""
    if test_start is None:
        return rows.reset_index(drop=True)
    return rows[rows[CUTOFF] >= test_start].reset_index(drop=True)
