"""Activity windows: event counts per type and active days over several trailing windows."""

import ibis

from behaviorlab.data.contract import EVENT
from behaviorlab.features.engine import AGE_US, MICROS_PER_DAY, day_age
from behaviorlab.features.families.common import KEYS, recent, within_days
from behaviorlab.features.naming import slug


def columns(p: dict) -> list[str]:
    """Per window: all events, active days, then each configured event type."""
    names = []
    for w in p["windows"]:
        names += [f"count_events_{w}d", f"active_days_{w}d"]
        names += [f"count_{slug(e)}_{w}d" for e in p["event_types"]]
    return names


def zero_filled(p: dict) -> list[str]:
    """Every activity feature is a count: no events means 0."""
    return columns(p)


def active_days(pit: ibis.Table, windows: list[int]) -> ibis.Table:
    """Calendar days with an event inside each window.

    One row per snapshot and day first, carrying the day's newest event age: a day is
    active in a window when that event is inside it. Plain sums replace distinct counts.
    """
    daily = pit.group_by([*KEYS, day_age(pit).name("day")]).aggregate(newest=pit[AGE_US].min())
    return daily.group_by(KEYS).aggregate(
        **{f"active_days_{w}d": (daily["newest"] <= w * MICROS_PER_DAY).sum() for w in windows}
    )


def compute(pit: ibis.Table, p: dict) -> list[ibis.Table]:
    """Conditional counts in one aggregate over the events of the widest window."""
    pit = recent(pit, max(p["windows"]))
    metrics = {}
    for w in p["windows"]:
        inside = within_days(pit, w)
        metrics[f"count_events_{w}d"] = inside.sum()
        for e in p["event_types"]:
            metrics[f"count_{slug(e)}_{w}d"] = (inside & (pit[EVENT] == e)).sum()
    return [pit.group_by(KEYS).aggregate(**metrics), active_days(pit, p["windows"])]
