"""The DuckDB side of features and labels: register frames, join events to cutoffs.

Everything downstream is an Ibis expression over these tables, so the same definitions
could run on another Ibis backend (Spark) unchanged.
"""

import ibis
import pandas as pd
import pyarrow as pa

from behaviorlab.data.contract import (
    AMOUNT,
    CUSTOMER_ID,
    CUTOFF,
    EVENT,
    SESSION_ID,
    SNAPSHOT_KEYS,
    TIMESTAMP,
)

MICROS_PER_DAY = 86_400_000_000
SID = "sid"
AGE_US = "age_us"
GAP_US = "gap_us"


def connect() -> ibis.BaseBackend:
    """A private in-memory DuckDB connection; nothing is written to disk."""
    return ibis.duckdb.connect()


def fetch(con: ibis.BaseBackend, expr: ibis.Table) -> pd.DataFrame:
    """Run an expression and convert through Arrow (column-wise; much faster than
    ``execute``, which builds Python objects for some column types)."""
    return con.to_pyarrow(expr).to_pandas()


BATCH_ROWS = 1 << 17


def in_batches(table: pa.Table) -> pa.Table:
    """The same table cut into record batches (zero-copy slices).

    DuckDB scans an Arrow table one record batch per thread; a frame built in pandas is
    usually a single chunk, which would leave every scan of the event log on one thread.
    """
    return pa.Table.from_batches(table.to_batches(max_chunksize=BATCH_ROWS), table.schema)


def to_memtable(frame: pd.DataFrame, columns: list[str]) -> ibis.Table:
    """Hand a pandas frame to the engine as Arrow (no per-row conversion)."""
    return ibis.memtable(in_batches(pa.Table.from_pandas(frame[columns], preserve_index=False)))


def event_table(events: pd.DataFrame) -> ibis.Table:
    """The canonical event columns (optional ones when present); properties stay behind."""
    present = [c for c in (CUSTOMER_ID, TIMESTAMP, EVENT, AMOUNT, SESSION_ID) if c in events]
    return to_memtable(events, present)


def snapshot_table(snapshots: pd.DataFrame) -> ibis.Table:
    """The (customer_id, cutoff) pairs as an engine table, with an integer snapshot id.

    Families group by ``sid`` (one integer) rather than by a string and a timestamp, which
    makes every hash aggregate and window partition markedly cheaper.
    """
    table = pa.Table.from_pandas(snapshots[list(SNAPSHOT_KEYS)], preserve_index=False)
    table = table.append_column(SID, pa.array(range(len(snapshots)), pa.int64()))
    return ibis.memtable(in_batches(table))


def join_before_cutoff(
    events: ibis.Table, snapshots: ibis.Table, extra: tuple[str, ...] = ()
) -> ibis.Table:
    """Every event strictly before each of its customer's cutoffs, keyed by snapshot id.

    This join is the point-in-time guarantee: no feature expression sees any other rows.
    ``age_us`` is the exact time from the event to the cutoff; ``extra`` names the optional
    event columns (amount, session_id) to carry, so the joined table stays narrow.
    """
    joined = snapshots.join(
        events,
        [snapshots[CUSTOMER_ID] == events[CUSTOMER_ID], events[TIMESTAMP] < snapshots[CUTOFF]],
    )
    age = joined[CUTOFF].delta(joined[TIMESTAMP], unit="microsecond")
    return joined.select(SID, TIMESTAMP, EVENT, *extra, **{AGE_US: age})


def day_age(pit: ibis.Table) -> ibis.Value:
    """Microseconds from the midnight starting the event's day to the cutoff."""
    stamp = pit[TIMESTAMP]
    return pit[AGE_US] + stamp.delta(stamp.truncate("D"), unit="microsecond")


def event_gaps(pit: ibis.Table) -> ibis.Table:
    """Per event, the microseconds since the same snapshot's previous event (NULL for the
    first). Only the snapshot id and the gap: the sort behind the window carries nothing
    else, which makes it much cheaper than adding the gap to the joined table."""
    order = ibis.window(group_by=pit[SID], order_by=pit[TIMESTAMP])
    gap = pit[TIMESTAMP].delta(pit[TIMESTAMP].lag().over(order), unit="microsecond")
    return pit.select(SID, **{GAP_US: gap})


def join_window(
    events: ibis.Table, snapshots: ibis.Table, lower_days: float | None, upper_days: float
) -> ibis.Table:
    """Events in ``[cutoff - lower_days, cutoff + upper_days)``; no lower bound when None."""
    predicates = [
        snapshots[CUSTOMER_ID] == events[CUSTOMER_ID],
        events[TIMESTAMP] < snapshots[CUTOFF] + ibis.interval(days=int(upper_days)),
    ]
    if lower_days is not None:
        since = snapshots[CUTOFF] - ibis.interval(days=int(lower_days))
        predicates.append(events[TIMESTAMP] >= since)
    return snapshots.join(events, predicates)
