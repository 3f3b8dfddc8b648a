"""Activity windows: event counts per type and active days over several trailing windows."""

import ibis

from behaviorlab.data.contract import EVENT, TIMESTAMP
from behaviorlab.features.families.common import KEYS, within_days
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


def compute(pit: ibis.Table, p: dict) -> list[ibis.Table]:
    """Conditional counts in one aggregate (one scan, whatever the number of windows)."""
    day = pit[TIMESTAMP].truncate("D")
    metrics = {}
    for w in p["windows"]:
        inside = within_days(pit, w)
        metrics[f"count_events_{w}d"] = inside.sum()
        metrics[f"active_days_{w}d"] = day.nunique(where=inside)
        for e in p["event_types"]:
            metrics[f"count_{slug(e)}_{w}d"] = (inside & (pit[EVENT] == e)).sum()
    return [pit.group_by(KEYS).aggregate(**metrics)]
