"""Sessions: count, mean duration and events per session.

From ``session_id`` when the log has it, else inferred: a new session starts after more
than ``gap_minutes`` of inactivity. Sessions are cut at the cutoff like everything else.
"""

import ibis

from behaviorlab.data.contract import SESSION_ID, TIMESTAMP
from behaviorlab.features.engine import GAP_US, MICROS_PER_DAY
from behaviorlab.features.families.common import KEYS

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


def from_gaps(pit: ibis.Table, gap_minutes: float) -> ibis.Table:
    """Inferred sessions: a session's length is the sum of the gaps inside it.

    Needs ``pit`` with ``gap_us`` (see ``engine.with_gaps``).
    """
    gap = pit[GAP_US].cast("float64") / MICROS_PER_MINUTE
    starts = gap.isnull() | (gap > gap_minutes)
    return pit.group_by(KEYS).aggregate(
        n_events=pit.count(), session_count=starts.sum(), inside=gap.sum(where=~starts)
    )


def from_ids(pit: ibis.Table) -> ibis.Table:
    """Given sessions: first to last event of each session id (events without one ignored)."""
    known = pit.filter(pit[SESSION_ID].notnull())
    per_session = known.group_by([*KEYS, SESSION_ID]).aggregate(
        n=known.count(), length=minutes(known[TIMESTAMP].max(), known[TIMESTAMP].min())
    )
    return per_session.group_by(KEYS).aggregate(
        n_events=per_session["n"].sum(),
        session_count=per_session.count(),
        inside=per_session["length"].sum(),
    )


def compute(pit: ibis.Table, p: dict) -> list[ibis.Table]:
    """Per snapshot totals, then means per session."""
    if p["source"] == "session_id":
        totals = from_ids(pit)
    else:
        totals = from_gaps(pit, float(p["gap_minutes"]))
    count = totals["session_count"]
    return [
        totals.select(
            *KEYS,
            session_count=count,
            session_duration_mean_min=totals["inside"].fill_null(0) / count,
            events_per_session=totals["n_events"] / count,
        )
    ]
