"""Disengagement: how long a customer has been quiet, measured against their own rhythm.

Days since the last event; event (and purchase) counts decayed with several half-lives, an
event ``a`` days old weighing ``2^(-a / h)``; the rhythm of visits: the median, last and
longest gap between consecutive session starts and the current silence in median gaps
(gaps between single events mostly measure seconds inside a session); and session
recency: days since the last session started and the sessions started in recent windows.
Sessions are the sessions family's (given ids, or a new one after more than
``gap_minutes`` of inactivity: ``sessions.starts_session``, read from the shared event
gaps).

On by default: days since the last event and the decayed event counts. The session rhythm
(``gaps``), decayed purchases (``purchases``) and session recency (``sessions``) are
options, off by default: none gained on validation on every preset; sim_churn's preset
switches the rhythm on, where it did (experiments/README.md).

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
RHYTHM = (
    "session_gap_median_days",
    "session_gap_last_days",
    "session_gap_max_days",
    "silence_in_session_gaps",
)


def columns(p: dict) -> list[str]:
    """Recency, gap rhythm, decayed counts, then session recency (each part optional)."""
    names = ["days_since_last_event"]
    if p["gaps"]:
        names += RHYTHM
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


def session_starts(src: Sources, p: dict) -> ibis.Table:
    """The age of every session start: a given session's first event, or an event that
    starts an inferred one (read from the shared event gaps, no sort of its own)."""
    if p["session_source"] == "gap":
        gaps = src.gaps
        first = gaps.filter(starts_session(gaps[GAP_US], float(p["gap_minutes"])))
        return first.select(SID, **{START: first[AGE_US]})
    known = src.pit.filter(src.pit[SESSION_ID].notnull())
    starts = known.group_by([*KEYS, SESSION_ID]).aggregate(**{START: known[AGE_US].max()})
    return starts.select(SID, START)


def session_recency(starts: ibis.Table, p: dict) -> ibis.Table:
    """Days since the newest session start and sessions started in each window."""
    start = starts[START]
    metrics = {"days_since_session_start": in_days(start.min())}
    metrics |= {f"session_count_{w}d": age_within(start, w).sum() for w in p["session_windows"]}
    return starts.group_by(KEYS).aggregate(**metrics)


def session_rhythm(starts: ibis.Table) -> ibis.Table:
    """Gaps between consecutive session starts: median, last, longest, and the current
    silence in median gaps. One sort of the starts, oldest first: the newest start's gap is
    the last completed one whatever the order of starts at the same instant (then it is 0)."""
    order = ibis.window(group_by=starts[SID], order_by=starts[START].desc())
    start = starts[START]
    rows = starts.select(
        SID,
        START,
        **{GAP_US: start.lag().over(order) - start, LAST: start.lead().over(order).isnull()},
    )
    gap = rows[GAP_US]
    agg = rows.group_by(KEYS).aggregate(
        newest=rows[START].min(),
        median=gap.median(),
        last_gap=gap.max(where=rows[LAST]),
        longest=gap.max(),
    )
    median = agg["median"].cast("float64")
    return agg.select(
        *KEYS,
        session_gap_median_days=in_days(median),
        session_gap_last_days=in_days(agg["last_gap"]),
        session_gap_max_days=in_days(agg["longest"]),
        silence_in_session_gaps=null_unless(median > 0, agg["newest"].cast("float64") / median),
    )


def tables(src: Sources, p: dict) -> list[ibis.Table]:
    """A scan for recency and decay; the session starts, once, for rhythm and recency."""
    parts = [recency(src.pit, p)]
    if p["gaps"] or p["sessions"]:
        starts = session_starts(src, p)
        parts += [session_rhythm(starts)] if p["gaps"] else []
        parts += [session_recency(starts, p)] if p["sessions"] else []
    return parts


def descriptions(p: dict) -> dict[str, dict]:
    """A person's reading of each column (see ``common.described``)."""
    few = "fewer than two sessions"
    table = {
        "days_since_last_event": described("days since the last event", "days", "no event yet"),
        "session_gap_median_days": described(
            "days between consecutive session starts, median", "days", few
        ),
        "session_gap_last_days": described("days between the last two session starts", "days", few),
        "session_gap_max_days": described("days between session starts, the longest", "days", few),
        "silence_in_session_gaps": described(
            "the median gap between sessions since the last session started",
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
