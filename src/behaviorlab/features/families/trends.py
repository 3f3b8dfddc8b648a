"""Trends: the latest window against the one before it, and the slope of weekly activity."""

import ibis

from behaviorlab.features.engine import AGE_US, MICROS_PER_DAY
from behaviorlab.features.families.common import KEYS, null_unless, recent, within_days


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
    """
    week_ago = (pit[AGE_US] - 1) // (7 * MICROS_PER_DAY)
    sxx = weeks * (weeks**2 - 1) / 12
    return ((weeks - 1) / 2 - week_ago) / sxx


def compute(pit: ibis.Table, p: dict) -> list[ibis.Table]:
    """Counts in [cutoff - w, cutoff) and [cutoff - 2w, cutoff - w), then diff and ratio."""
    weeks = int(p["slope_weeks"])
    pit = recent(pit, max(2 * max(p["windows"]), 7 * weeks))
    metrics = {}
    for w in p["windows"]:
        metrics[f"latest_{w}"] = within_days(pit, w).sum()
        metrics[f"previous_{w}"] = (within_days(pit, 2 * w) & ~within_days(pit, w)).sum()
    metrics["slope"] = slope_weight(pit, weeks).sum(where=within_days(pit, 7 * weeks))
    agg = pit.group_by(KEYS).aggregate(**metrics)
    derived = {}
    for w in p["windows"]:
        latest, previous = agg[f"latest_{w}"], agg[f"previous_{w}"]
        derived[f"trend_diff_{w}d"] = latest - previous
        derived[f"trend_ratio_{w}d"] = null_unless(previous > 0, latest / previous)
    derived[f"activity_slope_{weeks}w"] = agg["slope"].fill_null(0)
    return [agg.select(*KEYS, **derived)]
