"""Small expression helpers shared by the families."""

import ibis

from behaviorlab.data.contract import CUSTOMER_ID, CUTOFF, EVENT
from behaviorlab.features.engine import AGE_US, MICROS_PER_DAY

KEYS = [CUSTOMER_ID, CUTOFF]


def within_days(pit: ibis.Table, days: int) -> ibis.Value:
    """Event in ``[cutoff - days, cutoff)`` (the join already guarantees ``< cutoff``)."""
    return pit[AGE_US] <= int(days) * MICROS_PER_DAY


def is_event(pit: ibis.Table, names: list[str]) -> ibis.Value:
    """Event type membership."""
    return pit[EVENT].isin(list(names))


def null_unless(condition: ibis.Value, value: ibis.Value) -> ibis.Value:
    """``value`` where ``condition`` holds, else NULL (missing by design)."""
    return ibis.ifelse(condition, value, ibis.null("float64"))
