"""Small expression helpers shared by the families."""

import ibis

from behaviorlab.data.contract import EVENT
from behaviorlab.features.engine import AGE_US, MICROS_PER_DAY, SID

KEYS = [SID]


def within_days(pit: ibis.Table, days: int) -> ibis.Value:
    """Event in ``[cutoff - days, cutoff)`` (the join already guarantees ``< cutoff``)."""
    return pit[AGE_US] <= int(days) * MICROS_PER_DAY


def recent(pit: ibis.Table, days: int) -> ibis.Table:
    """Only the events of the last ``days`` days: windowed families never look further."""
    return pit.filter(within_days(pit, days))


def is_event(pit: ibis.Table, names: list[str]) -> ibis.Value:
    """Event type membership."""
    return pit[EVENT].isin(list(names))


def in_days(micros: ibis.Value) -> ibis.Value:
    """Microseconds as fractional days."""
    return micros.cast("float64") / MICROS_PER_DAY


def null_unless(condition: ibis.Value, value: ibis.Value) -> ibis.Value:
    """``value`` where ``condition`` holds, else NULL (missing by design)."""
    return ibis.ifelse(condition, value, ibis.null("float64"))
