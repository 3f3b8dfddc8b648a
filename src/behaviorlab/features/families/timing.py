"""Timing: gaps between events and between purchase days, days since key events, and the
hour-of-day and weekend shares of activity."""

import ibis

from behaviorlab.data.contract import EVENT, TIMESTAMP
from behaviorlab.features.engine import AGE_US, GAP_US, day_age
from behaviorlab.features.families.common import KEYS, Sources, described, in_days, is_event
from behaviorlab.features.naming import slug, words

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


def gap_metrics(gap_days: ibis.Value, prefix: str) -> dict[str, ibis.Value]:
    """Mean, sample std and max of gaps in days (NULL gaps, i.e. first events, ignored)."""
    return {
        f"{prefix}_mean_days": gap_days.mean(),
        f"{prefix}_std_days": gap_days.std(how="sample"),
        f"{prefix}_max_days": gap_days.max(),
    }


def purchase_gaps(pit: ibis.Table, purchase_events: list[str]) -> ibis.Table:
    """Gaps between consecutive purchase days (same-day purchases are one occasion)."""
    bought = pit.filter(is_event(pit, purchase_events))
    days = bought.select(*KEYS, day=day_age(bought)).distinct()
    order = ibis.window(group_by=days[KEYS[0]], order_by=days["day"])
    gap = in_days(days["day"].lead().over(order) - days["day"])
    gapped = days.mutate(gap=gap)
    return gapped.group_by(KEYS).aggregate(**gap_metrics(gapped["gap"], "purchase_gap"))


def window_days(p: dict) -> list[int]:
    """The whole history: no band edges."""
    return []


def since_key_events(pit: ibis.Table, key_events: list[str]) -> ibis.Table:
    """Days since the newest event of each key type, over the key events only."""
    keyed = pit.filter(is_event(pit, key_events))
    metrics = {
        f"days_since_{slug(e)}": in_days(keyed[AGE_US].min(where=keyed[EVENT] == e))
        for e in key_events
    }
    return keyed.group_by(KEYS).aggregate(**metrics)


def event_gap_stats(gaps: ibis.Table) -> ibis.Table:
    """Mean, std and max gap between consecutive events (see ``engine.event_gaps``)."""
    return gaps.group_by(KEYS).aggregate(**gap_metrics(in_days(gaps[GAP_US]), "gap"))


def shares(pit: ibis.Table) -> ibis.Table:
    """Hour-of-day and weekend shares of the events.

    The hour and weekday are taken once per event (a projection), not once per bucket.
    """
    stamp = pit[TIMESTAMP]
    clock = pit.select(*KEYS, hour=stamp.hour(), weekend=stamp.day_of_week.index() >= 5)
    hour, n = clock["hour"], clock.count()
    metrics = {
        f"share_{bucket}": ((hour >= low) & (hour < high)).sum() / n
        for bucket, (low, high) in HOUR_BUCKETS.items()
    }
    metrics["share_weekend"] = clock["weekend"].sum() / n
    return clock.group_by(KEYS).aggregate(**metrics)


def tables(src: Sources, p: dict) -> list[ibis.Table]:
    """Gaps and shares over all events; key events and purchase days apart (small slices)."""
    tables = [
        event_gap_stats(src.gaps),
        shares(src.pit),
        purchase_gaps(src.pit, p["purchase_events"]),
    ]
    return [*tables, since_key_events(src.pit, p["key_events"])] if p["key_events"] else tables


def descriptions(p: dict) -> dict[str, dict]:
    """A person's reading of each column (see ``common.described``)."""
    few_events, few_days = "fewer than two events", "fewer than two purchase days"
    table = {
        "gap_mean_days": described("days between events on average", "days", few_events),
        "gap_std_days": described("days of spread in the gaps between events", "days", few_events),
        "gap_max_days": described("days in the longest gap between events", "days", few_events),
        "purchase_gap_mean_days": described("days between purchases on average", "days", few_days),
        "purchase_gap_std_days": described(
            "days of spread in the gaps between purchases", "days", few_days
        ),
        "purchase_gap_max_days": described(
            "days in the longest gap between purchases", "days", few_days
        ),
    }
    for e in p["key_events"]:
        table[f"days_since_{slug(e)}"] = described(
            f"days since the last {words(e)}", "days", f"no {words(e)} yet"
        )
    for bucket, (low, high) in HOUR_BUCKETS.items():
        table[f"share_{bucket}"] = described(
            f"of events at {bucket} ({low:02d}-{high:02d} h)", "share", "no event yet"
        )
    table["share_weekend"] = described("of events at weekends", "share", "no event yet")
    return {name: table[name] for name in columns(p)}
