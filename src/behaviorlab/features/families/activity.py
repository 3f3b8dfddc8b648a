"""Activity windows: event counts per type and active days over several trailing windows."""

import ibis

from behaviorlab.data.contract import EVENT
from behaviorlab.features.engine import AGE_US, MICROS_PER_DAY, day_age
from behaviorlab.features.families.common import (
    KEYS,
    Sources,
    count_where,
    described,
    recent,
    typed_within,
)
from behaviorlab.features.naming import slug, words


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


def window_days(p: dict) -> list[int]:
    """Band edges this family reads from the per-type summary."""
    return list(p["windows"])


def counts(typed: ibis.Table, p: dict) -> ibis.Table:
    """Counts per window and type, summed over the bands inside each window."""
    metrics = {}
    for w in p["windows"]:
        inside = typed_within(typed, w)
        metrics[f"count_events_{w}d"] = count_where(typed, inside)
        for e in p["event_types"]:
            metrics[f"count_{slug(e)}_{w}d"] = count_where(typed, inside & (typed[EVENT] == e))
    return typed.group_by(KEYS).aggregate(**metrics)


def active_days(pit: ibis.Table, windows: list[int]) -> ibis.Table:
    """Calendar days with an event inside each window.

    One row per snapshot and day first, carrying the day's newest event age: a day is
    active in a window when that event is inside it. Plain sums replace distinct counts.
    """
    pit = recent(pit, max(windows))
    daily = pit.group_by([*KEYS, day_age(pit).name("day")]).aggregate(newest=pit[AGE_US].min())
    return daily.group_by(KEYS).aggregate(
        **{f"active_days_{w}d": (daily["newest"] <= w * MICROS_PER_DAY).sum() for w in windows}
    )


def tables(src: Sources, p: dict) -> list[ibis.Table]:
    """Counts from the per-type summary; active days need one row per snapshot and day."""
    return [counts(src.typed, p), active_days(src.pit, p["windows"])]


def descriptions(p: dict) -> dict[str, dict]:
    """A person's reading of each column (see ``common.described``)."""
    table = {}
    for w in p["windows"]:
        table[f"count_events_{w}d"] = described(f"events in the last {w} days", "count")
        table[f"active_days_{w}d"] = described(f"active days in the last {w} days", "count")
        for e in p["event_types"]:
            table[f"count_{slug(e)}_{w}d"] = described(
                f"{words(e)} events in the last {w} days", "count"
            )
    return table
