"""Diversity of behaviour: distinct event types and the Shannon entropy (nats) of the mix."""

import ibis

from behaviorlab.data.contract import EVENT
from behaviorlab.features.families.common import KEYS, Sources, described


def columns(p: dict) -> list[str]:
    """Two numbers over the whole history before the cutoff."""
    return ["distinct_event_types", "event_entropy"]


def zero_filled(p: dict) -> list[str]:
    """No events: no types; the entropy of an empty mix is undefined."""
    return ["distinct_event_types"]


def window_days(p: dict) -> list[int]:
    """The whole history: no band edges."""
    return []


def tables(src: Sources, p: dict) -> list[ibis.Table]:
    """Counts per type over the whole history, then H = ln N - sum(c ln c) / N."""
    pit = src.pit
    per_type = pit.group_by([*KEYS, EVENT]).aggregate(c=pit.count())
    c = per_type["c"].cast("float64")
    agg = per_type.group_by(KEYS).aggregate(
        types=per_type.count(), n=c.sum(), clnc=(c * c.ln()).sum()
    )
    entropy = (agg["n"].ln() - agg["clnc"] / agg["n"]).clip(lower=0)
    return [agg.select(*KEYS, distinct_event_types=agg["types"], event_entropy=entropy)]


def descriptions(p: dict) -> dict[str, dict]:
    """A person's reading of each column (see ``common.described``)."""
    return {
        "distinct_event_types": described("distinct event types", "count"),
        "event_entropy": described("nats of entropy in the event mix", "nats", "no event yet"),
    }
