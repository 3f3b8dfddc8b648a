"""Sessions: count, mean duration and events per session.

From ``session_id`` when the log has it, else inferred: a new session starts after more
than ``gap_minutes`` of inactivity. Sessions are cut at the cutoff like everything else.
"""

import ibis

from behaviorlab.data.contract import SESSION_ID, TIMESTAMP
from behaviorlab.features.engine import GAP_US, MICROS_PER_DAY
from behaviorlab.features.families.common import KEYS, Sources, described

MICROS_PER_MINUTE = MICROS_PER_DAY // 1440


def columns(p: dict) -> list[str]:
    """Fixed names whatever the session source."""
    return ["session_count", "session_duration_mean_min", "events_per_session"]


def zero_filled(p: dict) -> list[str]:
    """No events: no sessions; their length and size are undefined."""
    return ["session_count"]


def minutes(later: ibis.Value, earlier: ibis.Value) -> ibis.Value:
    """Elapsed minutes from microseconds."""
    return later.delta(earlier, unit="microsecond").cast("float64") / MICROS_PER_MINUTE


def per_session(count: ibis.Value, inside: ibis.Value, n_events: ibis.Value) -> dict:
    """Session count, mean length (minutes) and mean events from per-snapshot totals."""
    return {
        "session_count": count,
        "session_duration_mean_min": inside.fill_null(0) / count,
        "events_per_session": n_events / count,
    }


def window_days(p: dict) -> list[int]:
    """The whole history: no band edges."""
    return []


def starts_session(gap_us: ibis.Value, gap_minutes: float) -> ibis.Value:
    """An event starts a session when it is the first or follows more than ``gap_minutes``
    of inactivity (``gap_us``: microseconds since the previous event, NULL for the first)."""
    return gap_us.isnull() | (gap_us.cast("float64") / MICROS_PER_MINUTE > gap_minutes)


def from_gaps(gaps: ibis.Table, gap_minutes: float) -> ibis.Table:
    """Inferred sessions: a session's length is the sum of the gaps inside it (one row per
    event in ``gaps``; see ``engine.event_gaps``)."""
    gap = gaps[GAP_US].cast("float64") / MICROS_PER_MINUTE
    starts = starts_session(gaps[GAP_US], gap_minutes)
    totals = gaps.group_by(KEYS).aggregate(
        n_events=gaps.count(), count=starts.sum(), inside=gap.sum(where=~starts)
    )
    return totals.select(
        *KEYS, **per_session(totals["count"], totals["inside"], totals["n_events"])
    )


def from_ids(pit: ibis.Table) -> ibis.Table:
    """Given sessions: first to last event of each session id (events without one ignored)."""
    known = pit.filter(pit[SESSION_ID].notnull())
    by_id = known.group_by([*KEYS, SESSION_ID]).aggregate(
        n=known.count(), length=minutes(known[TIMESTAMP].max(), known[TIMESTAMP].min())
    )
    totals = by_id.group_by(KEYS).aggregate(
        n_events=by_id["n"].sum(), count=by_id.count(), inside=by_id["length"].sum()
    )
    return totals.select(
        *KEYS, **per_session(totals["count"], totals["inside"], totals["n_events"])
    )


def tables(src: Sources, p: dict) -> list[ibis.Table]:
    """Given session ids, or sessions inferred from inactivity gaps."""
    if p["source"] == "session_id":
        return [from_ids(src.pit)]
    return [from_gaps(src.gaps, float(p["gap_minutes"]))]


def descriptions(p: dict) -> dict[str, dict]:
    """A person's reading of each column (see ``common.described``)."""
    return {
        "session_count": described("sessions", "count"),
        "session_duration_mean_min": described(
            "minutes per session on average", "minutes", "no session yet"
        ),
        "events_per_session": described("events per session on average", "count", "no session yet"),
    }
