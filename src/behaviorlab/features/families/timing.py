"""Timing: gaps between events and between purchase days, days since key events, and the
hour-of-day and weekend shares of activity."""

import ibis

from behaviorlab.data.contract import EVENT, TIMESTAMP
from behaviorlab.features.engine import AGE_US, MICROS_PER_DAY, days_between
from behaviorlab.features.families.common import KEYS, is_event
from behaviorlab.features.naming import slug

STATS = ("mean", "std", "max")
HOUR_BUCKETS = {"night": (0, 6), "morning": (6, 12), "afternoon": (12, 18), "evening": (18, 24)}


def columns(p: dict) -> list[str]:
    """Gap statistics, days since each key event, then the activity shares."""
    gaps = [f"{kind}_{stat}_days" for kind in ("gap", "purchase_gap") for stat in STATS]
    since = [f"days_since_{slug(e)}" for e in p["key_events"]]
    return gaps + since + [f"share_{b}" for b in (*HOUR_BUCKETS, "weekend")]


def zero_filled(p: dict) -> list[str]:
    """Nothing here is a count: every timing value is undefined without events."""
    return []


def gap_stats(table: ibis.Table, prefix: str) -> ibis.Table:
    """Mean, sample std and max of the gaps (days) between consecutive timestamps."""
    order = ibis.window(group_by=KEYS, order_by=table[TIMESTAMP])
    gapped = table.mutate(gap=days_between(table[TIMESTAMP], table[TIMESTAMP].lag().over(order)))
    return gapped.group_by(KEYS).aggregate(
        **{
            f"{prefix}_mean_days": gapped["gap"].mean(),
            f"{prefix}_std_days": gapped["gap"].std(how="sample"),
            f"{prefix}_max_days": gapped["gap"].max(),
        }
    )


def purchase_days(pit: ibis.Table, purchase_events: list[str]) -> ibis.Table:
    """One row per snapshot and purchase day (same-day purchases are one occasion)."""
    bought = pit.filter(is_event(pit, purchase_events))
    return bought.select(*KEYS, **{TIMESTAMP: bought[TIMESTAMP].truncate("D")}).distinct()


def shares_and_recency(pit: ibis.Table, p: dict) -> ibis.Table:
    """Days since each key event and the share of events per hour bucket and at weekends."""
    hour = pit[TIMESTAMP].hour()
    n = pit.count()
    metrics = {
        f"days_since_{slug(e)}": pit[AGE_US].min(where=pit[EVENT] == e) / MICROS_PER_DAY
        for e in p["key_events"]
    }
    for bucket, (low, high) in HOUR_BUCKETS.items():
        metrics[f"share_{bucket}"] = ((hour >= low) & (hour < high)).sum() / n
    metrics["share_weekend"] = (pit[TIMESTAMP].day_of_week.index() >= 5).sum() / n
    return pit.group_by(KEYS).aggregate(**metrics)


def compute(pit: ibis.Table, p: dict) -> list[ibis.Table]:
    """Three aggregates: event gaps, purchase-day gaps, key-event recency with shares."""
    return [
        gap_stats(pit.select(*KEYS, TIMESTAMP), "gap"),
        gap_stats(purchase_days(pit, p["purchase_events"]), "purchase_gap"),
        shares_and_recency(pit, p),
    ]
