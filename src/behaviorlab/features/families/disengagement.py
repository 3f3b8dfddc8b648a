"""Disengagement: how long a customer has been quiet, measured against their own rhythm.

Days since the last event; the median gap between consecutive events, the last completed
gap (between the last two events) and the current silence in median gaps; event (and
purchase) counts decayed with several half-lives, an event ``a`` days old weighing
``2^(-a / h)``; and session recency: days since the last session started and the sessions
started in recent windows. Sessions are the sessions family's (given ids, or a new one
after more than ``gap_minutes`` of inactivity: ``sessions.starts_session``).

On by default: days since the last event and the decayed event counts. The gaps
(``gaps``), decayed purchases (``purchases``) and session recency (``sessions``) are
options, off: they gained nothing on validation on sim_churn or cdnow_repurchase
(experiments/README.md).

The median is exact and portable: DuckDB's ``quantile_cont`` and Spark's ``percentile``
both take the mean of the two middle gaps for an even count.
"""

import math

import ibis

from behaviorlab.data.contract import SESSION_ID
from behaviorlab.features.engine import AGE_US, GAP_US, SID
from behaviorlab.features.families.common import (
    KEYS,
    Sources,
    age_within,
    described,
    in_days,
    is_event,
    null_unless,
)
from behaviorlab.features.families.sessions import starts_session

LAST = "last"
START = "start"


def columns(p: dict) -> list[str]:
    """Recency, gap rhythm, decayed counts, then session recency (each part optional)."""
    names = ["days_since_last_event"]
    if p["gaps"]:
        names += ["gap_median_days", "gap_last_days", "gap_current_ratio"]
    names += [f"decayed_events_hl{h}d" for h in p["half_lives"]]
    names += [f"decayed_purchases_hl{h}d" for h in purchase_half_lives(p)]
    if p["sessions"]:
        names += ["days_since_session_start"]
        names += [f"session_count_{w}d" for w in p["session_windows"]]
    return names


def zero_filled(p: dict) -> list[str]:
    """Decayed counts and session counts are 0 without events; the rest is undefined."""
    decayed = [c for c in columns(p) if c.startswith("decayed_")]
    return [*decayed, *(f"session_count_{w}d" for w in p["session_windows"] if p["sessions"])]


def window_days(p: dict) -> list[int]:
    """Nothing is read from the per-type summary."""
    return []


def purchase_half_lives(p: dict) -> list[int]:
    """Half-lives of the decayed purchase counts (none when switched off or no purchases)."""
    return list(p["half_lives"]) if p["purchases"] and p["purchase_events"] else []


def decay(pit: ibis.Table, half_life: int) -> ibis.Value:
    """Each event's weight ``2^(-age_days / half_life)``; the age in days is a float64
    before it meets the constant (Spark reads a fractional literal as a decimal)."""
    return (in_days(pit[AGE_US]) * (-math.log(2) / int(half_life))).exp()


def recency(pit: ibis.Table, p: dict) -> ibis.Table:
    """Days since the last event and the decayed counts: one scan of the events."""
    metrics = {"days_since_last_event": in_days(pit[AGE_US].min())}
    metrics |= {f"decayed_events_hl{h}d": decay(pit, h).sum() for h in p["half_lives"]}
    bought = is_event(pit, p["purchase_events"])
    metrics |= {
        f"decayed_purchases_hl{h}d": decay(pit, h).sum(where=bought) for h in purchase_half_lives(p)
    }
    return pit.group_by(KEYS).aggregate(**metrics)


def ordered(pit: ibis.Table) -> ibis.Table:
    """Per event: its age, the gap since the snapshot's previous event (NULL for the first)
    and whether it is the newest. One sort: the newest row's gap is the last completed gap
    whatever the order among events at the same instant (then it is 0)."""
    order = ibis.window(group_by=pit[SID], order_by=pit[AGE_US].desc())
    age = pit[AGE_US]
    return pit.select(
        SID, AGE_US, **{GAP_US: age.lag().over(order) - age, LAST: age.lead().over(order).isnull()}
    )


def session_metrics(start_age: ibis.Value, p: dict, where: ibis.Value | None = None) -> dict:
    """Days since the newest session start and sessions started in each window, from the
    ages of session starts (``where`` picks the starts among the rows)."""
    metrics = {"days_since_session_start": in_days(start_age.min(where=where))}
    for w in p["session_windows"]:
        metrics[f"session_count_{w}d"] = age_within(start_age, w).sum(where=where)
    return metrics


def rhythm(pit: ibis.Table, p: dict) -> ibis.Table:
    """Gap statistics and (sessions inferred from gaps) session recency, from one sorted
    pass over the events."""
    rows = ordered(pit)
    age, gap = rows[AGE_US], rows[GAP_US]
    sessions = {}
    if p["sessions"] and p["session_source"] == "gap":
        sessions = session_metrics(age, p, where=starts_session(gap, float(p["gap_minutes"])))
    gaps = {"newest": age.min(), "median": gap.median(), "last_gap": gap.max(where=rows[LAST])}
    agg = rows.group_by(KEYS).aggregate(**sessions, **(gaps if p["gaps"] else {}))
    derived = {name: agg[name] for name in sessions}
    if p["gaps"]:
        median = agg["median"].cast("float64")
        derived |= {
            "gap_median_days": in_days(median),
            "gap_last_days": in_days(agg["last_gap"]),
            "gap_current_ratio": null_unless(median > 0, agg["newest"].cast("float64") / median),
        }
    return agg.select(*KEYS, **derived)


def id_sessions(pit: ibis.Table, p: dict) -> ibis.Table:
    """Session recency from given ids: a session starts at its first event (events without
    an id ignored, as in the sessions family)."""
    known = pit.filter(pit[SESSION_ID].notnull())
    starts = known.group_by([*KEYS, SESSION_ID]).aggregate(**{START: known[AGE_US].max()})
    return starts.group_by(KEYS).aggregate(**session_metrics(starts[START], p))


def tables(src: Sources, p: dict) -> list[ibis.Table]:
    """A scan for recency and decay; one sorted pass for gaps and gap sessions; session ids
    grouped apart."""
    parts = [recency(src.pit, p)]
    gap_sessions = p["sessions"] and p["session_source"] == "gap"
    if p["gaps"] or gap_sessions:
        parts.append(rhythm(src.pit, p))
    if p["sessions"] and not gap_sessions:
        parts.append(id_sessions(src.pit, p))
    return parts


def descriptions(p: dict) -> dict[str, dict]:
    """A person's reading of each column (see ``common.described``)."""
    few = "fewer than two events"
    table = {
        "days_since_last_event": described("days since the last event", "days", "no event yet"),
        "gap_median_days": described("days between consecutive events, median", "days", few),
        "gap_last_days": described("days between the last two events", "days", few),
        "gap_current_ratio": described(
            "times the median gap between events since the last event",
            "ratio",
            f"{few}, or a median gap of 0",
        ),
        "days_since_session_start": described(
            "days since the last session started", "days", "no session yet"
        ),
    }
    for h in p["half_lives"]:
        table[f"decayed_events_hl{h}d"] = described(
            f"recent events, weighted to halve every {h} days", "count"
        )
        table[f"decayed_purchases_hl{h}d"] = described(
            f"recent purchases, weighted to halve every {h} days", "count"
        )
    for w in p["session_windows"]:
        table[f"session_count_{w}d"] = described(f"sessions started in the last {w} days", "count")
    return {name: table[name] for name in columns(p)}
