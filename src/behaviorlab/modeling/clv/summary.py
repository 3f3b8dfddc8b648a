"""Per-customer purchase summaries for the probabilistic CLV models, reduced by the engine.

The conventions are lifetimes' ``calibration_and_holdout_data`` with ``freq='D'``, so
fitted parameters compare with the literature: same-day purchases are one occasion (their
amounts summed), frequency counts repeat purchase days, recency is the days from the first
to the last purchase day, and T the days from the first purchase day to the calibration
end, the day before the (exclusive) cutoff.
"""

import ibis
import pandas as pd

from behaviorlab.data.contract import AMOUNT, CUSTOMER_ID, TIMESTAMP
from behaviorlab.errors import DataValidationError

SUMMARY_COLUMNS = (CUSTOMER_ID, "frequency", "recency", "T", "monetary_value")
HOLDOUT_COLUMNS = ("frequency_holdout", "monetary_value_holdout", "duration_holdout")
DAY = "day"


def summarize_purchases(
    purchases: pd.DataFrame | ibis.Table,
    cutoff: pd.Timestamp | str,
    holdout_end: pd.Timestamp | str | None = None,
) -> pd.DataFrame:
    """One row per customer who bought before ``cutoff``: frequency, recency, T, monetary.

    ``purchases`` holds purchase events only (``customer_id``, ``timestamp``, optional
    ``amount``). With ``holdout_end`` (exclusive) the holdout window is
    ``[cutoff, holdout_end)``: purchase days there, their mean daily spend and the window's
    length in lifetimes' convention. Both dates are day boundaries (a time of day is
    dropped). Only the per-customer rows leave the engine.
    """
    table = purchases if isinstance(purchases, ibis.Table) else ibis.memtable(purchases)
    missing = [name for name in (CUSTOMER_ID, TIMESTAMP) if name not in table.columns]
    if missing:
        raise DataValidationError(f"purchases lack the column(s) {missing}")
    start = pd.Timestamp(cutoff).normalize()
    days = purchase_days(table)
    summary = calibration_summary(days.filter(days[DAY] < start.to_pydatetime()), start)
    if holdout_end is not None:
        end = pd.Timestamp(holdout_end).normalize()
        if end <= start:
            raise DataValidationError(
                f"holdout_end {end.date()} is not after cutoff {start.date()}"
            )
        window = days.filter(
            (days[DAY] >= start.to_pydatetime()) & (days[DAY] < end.to_pydatetime())
        )
        summary = join_holdout(summary, window, (end - start).days)
    frame = summary.order_by(CUSTOMER_ID).to_pandas()
    if AMOUNT not in table.columns:
        frame["monetary_value"] = float("nan")
        if holdout_end is not None:
            frame["monetary_value_holdout"] = float("nan")
    columns = [*SUMMARY_COLUMNS, *(HOLDOUT_COLUMNS if holdout_end is not None else ())]
    frame = frame[columns]
    numeric = columns[1:]
    frame[numeric] = frame[numeric].astype("float64")
    frame[CUSTOMER_ID] = frame[CUSTOMER_ID].astype("str")
    return frame


def purchase_days(table: ibis.Table) -> ibis.Table:
    """One row per customer and purchase day, with the day's summed amount when known."""
    day = table[TIMESTAMP].truncate("D").name(DAY)
    if AMOUNT not in table.columns:
        return table.select(table[CUSTOMER_ID], day).distinct()
    return table.group_by([table[CUSTOMER_ID], day]).aggregate(
        spend=table[AMOUNT].cast("float64").sum()
    )


def calibration_summary(days: ibis.Table, start: pd.Timestamp) -> ibis.Table:
    """Frequency, recency, T and mean repeat-day spend from the calibration purchase days."""
    first = days[DAY].min().over(group_by=days[CUSTOMER_ID])
    marked = days.mutate(first_day=first)
    has_amounts = "spend" in days.columns
    metrics = {
        "first_day": marked["first_day"].min(),
        "last_day": marked[DAY].max(),
        "n_days": marked.count(),
    }
    if has_amounts:
        metrics["repeat_spend"] = marked["spend"].sum(where=marked[DAY] > marked["first_day"])
    per = marked.group_by(CUSTOMER_ID).aggregate(**metrics)
    end = ibis.literal((start - pd.Timedelta(days=1)).to_pydatetime()).cast("timestamp")
    frequency = per["n_days"] - 1
    derived = {
        "frequency": frequency,
        "recency": per["last_day"].delta(per["first_day"], unit="day"),
        "T": end.delta(per["first_day"], unit="day"),
    }
    if has_amounts:
        derived["monetary_value"] = ibis.ifelse(
            frequency > 0, per["repeat_spend"].cast("float64") / frequency, 0.0
        )
    return per.select(CUSTOMER_ID, **derived)


def join_holdout(summary: ibis.Table, window: ibis.Table, duration: int) -> ibis.Table:
    """Add the holdout purchase days and mean daily spend (0 for customers without any)."""
    metrics = {"frequency_holdout": window.count()}
    if "spend" in window.columns:
        metrics["monetary_value_holdout"] = window["spend"].mean()
    holdout = window.group_by(CUSTOMER_ID).aggregate(**metrics)
    joined = summary.left_join(holdout, CUSTOMER_ID)
    filled = {name: joined[name].fill_null(0) for name in metrics}
    return joined.select(
        *summary.columns, **filled, duration_holdout=ibis.literal(duration, type="int64")
    )
