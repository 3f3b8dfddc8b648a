"""Trends: the latest window against the one before it, and the slope of weekly activity."""

import ibis

from behaviorlab.features.engine import AGE_US, MICROS_PER_DAY
from behaviorlab.features.families.common import (
    KEYS,
    Sources,
    count_where,
    described,
    null_unless,
    recent,
    typed_within,
)


def columns(p: dict) -> list[str]:
    """Difference and ratio per window, then the weekly slope."""
    per_window = [n for w in p["windows"] for n in (f"trend_diff_{w}d", f"trend_ratio_{w}d")]
    return [*per_window, f"activity_slope_{p['slope_weeks']}w"]


def zero_filled(p: dict) -> list[str]:
    """No events: no change and a flat slope; the ratio stays undefined."""
    return [*(f"trend_diff_{w}d" for w in p["windows"]), f"activity_slope_{p['slope_weeks']}w"]


def slope_weight(pit: ibis.Table, weeks: int) -> ibis.Value:
    """Each event's share of the least-squares slope of weekly counts over ``weeks`` weeks.

    With week index k (0 oldest .. W-1 latest) the slope is sum_k (k - kbar) y_k / Sxx, so
    summing (k - kbar) / Sxx over events gives it without materialising empty weeks.

    The week index is a float64 before it meets the fractional constants: Spark reads a
    literal such as 3.5 as a decimal, and decimal arithmetic would round the weights.
    """
    week_ago = ((pit[AGE_US] - 1) // (7 * MICROS_PER_DAY)).cast("float64")
    sxx = weeks * (weeks**2 - 1) / 12
    return ((weeks - 1) / 2 - week_ago) / sxx


def window_days(p: dict) -> list[int]:
    """Each window and the one before it end on band edges."""
    return [d for w in p["windows"] for d in (w, 2 * w)]


def changes(typed: ibis.Table, p: dict) -> ibis.Table:
    """Counts in [cutoff - w, cutoff) and [cutoff - 2w, cutoff - w), then diff and ratio."""
    metrics = {}
    for w in p["windows"]:
        latest = typed_within(typed, w)
        metrics[f"latest_{w}"] = count_where(typed, latest)
        metrics[f"previous_{w}"] = count_where(typed, typed_within(typed, 2 * w) & ~latest)
    agg = typed.group_by(KEYS).aggregate(**metrics)
    derived = {}
    for w in p["windows"]:
        latest, previous = agg[f"latest_{w}"].fill_null(0), agg[f"previous_{w}"].fill_null(0)
        derived[f"trend_diff_{w}d"] = latest - previous
        derived[f"trend_ratio_{w}d"] = null_unless(previous > 0, latest / previous)
    return agg.select(*KEYS, **derived)


def slope(pit: ibis.Table, weeks: int) -> ibis.Table:
    """Least-squares slope of weekly counts, over the events of the last ``weeks`` weeks."""
    pit = recent(pit, 7 * weeks)
    return pit.group_by(KEYS).aggregate(
        **{f"activity_slope_{weeks}w": slope_weight(pit, weeks).sum()}
    )


def tables(src: Sources, p: dict) -> list[ibis.Table]:
    """Window changes from the per-type summary; the slope weighs each recent event."""
    return [changes(src.typed, p), slope(src.pit, int(p["slope_weeks"]))]


def descriptions(p: dict) -> dict[str, dict]:
    """A person's reading of each column (see ``common.described``)."""
    table = {}
    for w in p["windows"]:
        table[f"trend_diff_{w}d"] = described(
            f"events in the last {w} days against the {w} days before", "change"
        )
        table[f"trend_ratio_{w}d"] = described(
            f"as many events in the last {w} days as in the {w} days before",
            "ratio",
            f"no event in the {w} days before the last {w}",
        )
    weeks = p["slope_weeks"]
    table[f"activity_slope_{weeks}w"] = described(
        f"events a week, trend per week over the last {weeks} weeks", "change"
    )
    return table
