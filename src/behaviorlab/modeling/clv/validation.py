"""Holdout validation: calibration-period fits judged on the purchases that came next.

The classic check (Fader, Hardie & Lee 2005, figure 4): customers grouped by their number
of repeat purchases in calibration, mean predicted vs mean actual purchases in the holdout,
plus the totals and the mean absolute error per customer.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from behaviorlab.errors import DataValidationError
from behaviorlab.modeling.clv.value import TransactionsModel

HOLDOUT = ("frequency_holdout", "duration_holdout")


@dataclass(frozen=True)
class HoldoutCheck:
    """The by-frequency table and the headline figures of one holdout comparison."""

    by_frequency: pd.DataFrame
    predicted_total: float
    actual_total: float
    total_error: float
    mean_absolute_error: float


def predict_holdout(summary: pd.DataFrame, model: TransactionsModel) -> np.ndarray:
    """Each customer's expected purchases over the holdout window."""
    missing = [name for name in HOLDOUT if name not in summary]
    if missing:
        raise DataValidationError(f"the purchase summary lacks the holdout column(s) {missing}")
    durations = summary["duration_holdout"].unique()
    if len(durations) != 1:
        raise DataValidationError("the holdout window must be the same for every customer")
    return model.expected_purchases(summary, float(durations[0]))


def check_holdout(
    summary: pd.DataFrame, model: TransactionsModel, max_frequency: int = 7
) -> HoldoutCheck:
    """Predicted vs actual holdout purchases, by calibration frequency and in total.

    ``total_error`` is (predicted - actual) / actual over all customers.
    """
    predicted = predict_holdout(summary, model)
    actual = summary["frequency_holdout"].to_numpy(dtype="float64")
    frequency = summary["frequency"].to_numpy(dtype="float64")
    group = np.minimum(frequency, max_frequency).astype("int64")
    table = (
        pd.DataFrame({"group": group, "predicted": predicted, "actual": actual})
        .groupby("group")
        .agg(
            customers=("predicted", "size"),
            predicted=("predicted", "mean"),
            actual=("actual", "mean"),
        )
        .reindex(range(max_frequency + 1))
        .reset_index()
    )
    labels = [str(k) for k in range(max_frequency)] + [f"{max_frequency}+"]
    table.insert(0, "frequency", pd.array(labels, dtype="str"))
    table = table.drop(columns="group")
    table["customers"] = table["customers"].fillna(0).astype("int64")
    predicted_total, actual_total = float(predicted.sum()), float(actual.sum())
    return HoldoutCheck(
        by_frequency=table,
        predicted_total=predicted_total,
        actual_total=actual_total,
        total_error=(predicted_total - actual_total) / actual_total if actual_total else np.nan,
        mean_absolute_error=float(np.mean(np.abs(predicted - actual))),
    )
