"""The engine side of features and labels: event logs as engine tables, joins to cutoffs.

An event log arrives as a pandas frame or as an Ibis table bound to a backend (DuckDB
reading a Parquet file, or Spark). A frame becomes a view over its Arrow data on a new
private DuckDB connection; a table stays on its own backend. Everything downstream is an
Ibis expression over these tables, run on the table's backend, so the same definitions run
on DuckDB and on Spark. Only small results (one row per snapshot, customer or event type)
come back to pandas.
"""

import contextlib
from collections.abc import Iterator, Sequence

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

Events = pd.DataFrame | ibis.Table

MICROS_PER_DAY = 86_400_000_000
SID = "sid"
AGE_US = "age_us"
GAP_US = "gap_us"
EVENT_COLUMNS = (CUSTOMER_ID, TIMESTAMP, EVENT, AMOUNT, SESSION_ID)


def connect() -> ibis.BaseBackend:
    """A private in-memory DuckDB connection; nothing is written to disk."""
    return ibis.duckdb.connect()


def fetch(con: ibis.BaseBackend, expr: ibis.Table) -> pd.DataFrame:
    """Run an expression and convert through Arrow (column-wise; much faster than
    ``execute``, which builds Python objects for some column types)."""
    return con.to_pyarrow(expr).to_pandas()


def fetch_value(table: ibis.Table, expr: ibis.Scalar):
    """One aggregate of an engine table, run on the table's backend, as a Python value."""
    return ibis.get_backend(table).to_pyarrow(expr).as_py()


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


def as_event_table(events: Events, extra: Sequence[str] = ()) -> ibis.Table:
    """The event log as an engine table: an Ibis table as it is, a pandas frame as a view
    over its canonical columns (the optional ones when present) and ``extra`` on a new
    private DuckDB connection. Other property columns of a frame stay behind."""
    if isinstance(events, ibis.Table):
        return events
    wanted = dict.fromkeys((*EVENT_COLUMNS, *extra))
    present = [c for c in wanted if c in events.columns]
    return connect().create_view(ibis.util.gen_name("events"), to_memtable(events, present))


def snapshot_table(snapshots: pd.DataFrame) -> ibis.Table:
    """The (customer_id, cutoff) pairs as an engine table, with an integer snapshot id.

    Families group by ``sid`` (one integer) rather than by a string and a timestamp, which
    makes every hash aggregate and window partition markedly cheaper. Results come back
    keyed by ``sid`` (row ``sid`` of ``snapshots``), so no key is converted back.
    """
    table = pa.Table.from_pandas(snapshots[list(SNAPSHOT_KEYS)], preserve_index=False)
    table = table.append_column(SID, pa.array(range(len(snapshots)), pa.int64()))
    return ibis.memtable(in_batches(table))


def fetch_by_snapshot(con: ibis.BaseBackend, expr: ibis.Table, n_snapshots: int) -> pd.DataFrame:
    """A per-snapshot result in snapshot order: one row per ``sid``, missing ones NULL."""
    rows = pd.RangeIndex(n_snapshots, name=SID)
    return fetch(con, expr).set_index(SID).reindex(rows)


@contextlib.contextmanager
def materialised(expr: ibis.Table) -> Iterator[ibis.Table]:
    """The expression computed once for the queries inside the block, then dropped.

    Ibis's cache names each table uniquely (a shared connection may build several at once)
    and keeps it where the backend keeps data: a temporary table on DuckDB, a persisted
    DataFrame behind a temporary view on Spark (a plain view would be recomputed by every
    query that reads it). Spark fills it on the first query and reuses it afterwards.
    """
    con = ibis.get_backend(expr)
    with spark_inputs(con, expr) as source:
        cached = source.cache()
        try:
            yield cached
        finally:
            cached.release()


@contextlib.contextmanager
def spark_inputs(con: ibis.BaseBackend, expr: ibis.Table) -> Iterator[ibis.Table]:
    """On Spark, the expression behind a temporary view for the block: Ibis's Spark cache
    does not register in-memory inputs (the snapshots) itself, creating a view does.
    Elsewhere the expression as it is."""
    if con.name != "pyspark":
        yield expr
        return
    name = ibis.util.gen_name("inputs")
    try:
        yield con.create_view(name, expr)
    finally:
        con.drop_view(name, force=True)


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
    """Per event, its age and the microseconds since the same snapshot's previous event
    (NULL for the first). Only the snapshot id, the age and the gap: the sort behind the
    window carries nothing else, which makes it much cheaper than adding the gap to the
    joined table."""
    order = ibis.window(group_by=pit[SID], order_by=pit[TIMESTAMP])
    gap = pit[TIMESTAMP].delta(pit[TIMESTAMP].lag().over(order), unit="microsecond")
    return pit.select(SID, AGE_US, **{GAP_US: gap})


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
