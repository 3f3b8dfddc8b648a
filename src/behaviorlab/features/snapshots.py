"""Snapshot tables: which (customer_id, cutoff) pairs a model learns from or scores.

Calendar snapshots (one date, or a rolling grid) and relative snapshots (signup + N days)
are two generators of the same table, so labels and features never care which was used.
"""

import ibis
import pandas as pd

from behaviorlab.data.contract import CUSTOMER_ID, CUTOFF, SIGNUP_AT, TIMESTAMP, TIMESTAMP_DTYPE
from behaviorlab.errors import ConfigError, DataValidationError
from behaviorlab.features.engine import Events, as_event_table, fetch

FIRST_SEEN = "first_seen"


def make_cutoff_grid(start, end, every_days: int) -> list[pd.Timestamp]:
    """Cutoffs that include ``end`` and step back every K days while they stay >= start."""
    if every_days is None or int(every_days) <= 0:
        raise ConfigError(f"snapshots.every_days must be a positive integer, got {every_days!r}")
    end_ts, start_ts = pd.Timestamp(end), pd.Timestamp(start)
    if start_ts > end_ts:
        raise ConfigError(f"snapshots.start {start_ts.date()} is after end {end_ts.date()}")
    grid = pd.date_range(start=end_ts, end=start_ts, freq=pd.Timedelta(days=-int(every_days)))
    return sorted(grid)


def resolve_cutoffs(cutoffs=None, start=None, end=None, every_days=None) -> list[pd.Timestamp]:
    """Explicit cutoffs win; otherwise a rolling grid (or ``end`` alone without a step)."""
    if cutoffs:
        return sorted({pd.Timestamp(c) for c in cutoffs})
    if end is None:
        raise ConfigError("calendar snapshots need `cutoffs`, or `end` (+ `start`, `every_days`)")
    if start is None or every_days is None:
        return [pd.Timestamp(end)]
    return make_cutoff_grid(start, end, every_days)


def make_calendar_snapshots(
    events: Events,
    cutoffs: list[str] | None = None,
    start=None,
    end=None,
    every_days: int | None = None,
) -> pd.DataFrame:
    """One row per customer and cutoff where the customer has any event before that cutoff."""
    grid = pd.DataFrame(
        {CUTOFF: pd.Series(resolve_cutoffs(cutoffs, start, end, every_days), dtype=TIMESTAMP_DTYPE)}
    )
    pairs = first_seen(events).merge(grid, how="cross")
    pairs = pairs.loc[pairs[FIRST_SEEN] < pairs[CUTOFF], [CUSTOMER_ID, CUTOFF]]
    return sort_snapshots(pairs)


def first_seen(events: Events) -> pd.DataFrame:
    """Each customer's first event time (one row per customer: small), from the engine."""
    table = as_event_table(events)
    table = table.filter(table[CUSTOMER_ID].notnull())
    per_customer = table.group_by(CUSTOMER_ID).aggregate(**{FIRST_SEEN: table[TIMESTAMP].min()})
    return fetch(ibis.get_backend(table), per_customer)


def make_relative_snapshots(customers: pd.DataFrame, days_after_signup: int) -> pd.DataFrame:
    """One row per customer with a signup date, at signup + N days (trial conversion tasks).

    A customer table with ``valid_from`` has several rows per customer; the earliest signup
    counts, so a customer never gets two snapshots.
    """
    if customers is None or SIGNUP_AT not in customers.columns:
        raise DataValidationError(
            f"relative snapshots need a customer table with a `{SIGNUP_AT}` column"
        )
    known = customers.loc[customers[SIGNUP_AT].notna(), [CUSTOMER_ID, SIGNUP_AT]]
    known = known.sort_values(SIGNUP_AT, kind="stable").drop_duplicates(CUSTOMER_ID)
    cutoff = known[SIGNUP_AT].astype(TIMESTAMP_DTYPE) + pd.Timedelta(days=int(days_after_signup))
    return sort_snapshots(pd.DataFrame({CUSTOMER_ID: known[CUSTOMER_ID], CUTOFF: cutoff}))


def make_snapshots(events: Events, customers: pd.DataFrame | None, spec: dict) -> pd.DataFrame:
    """Dispatch on ``spec["kind"]``: ``calendar`` or ``relative``."""
    kind = spec.get("kind", "calendar")
    if kind == "calendar":
        return make_calendar_snapshots(
            events,
            cutoffs=spec.get("cutoffs"),
            start=spec.get("start"),
            end=spec.get("end"),
            every_days=spec.get("every_days"),
        )
    if kind == "relative":
        if "days_after_signup" not in spec:
            raise ConfigError("relative snapshots need `days_after_signup`")
        return make_relative_snapshots(customers, spec["days_after_signup"])
    raise ConfigError(f"snapshots.kind must be 'calendar' or 'relative', got {kind!r}")


def sort_snapshots(pairs: pd.DataFrame) -> pd.DataFrame:
    """Canonical key dtypes (str ids, microsecond cutoffs), sorted by cutoff then customer."""
    out = pairs.assign(
        **{
            CUSTOMER_ID: pairs[CUSTOMER_ID].astype("str"),
            CUTOFF: pairs[CUTOFF].astype(TIMESTAMP_DTYPE),
        }
    )
    return out.sort_values([CUTOFF, CUSTOMER_ID], kind="stable").reset_index(drop=True)
