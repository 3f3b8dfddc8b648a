"""Customer partitions for batch scoring: one DuckDB pass splits the inputs on disk, then
one bounded partition at a time is read back.

Snapshots, events and customers are written with ``COPY ... (FORMAT parquet,
PARTITION_BY (part))`` into a temporary folder, ``part`` being a hash bucket of the
customer id, so every customer's snapshots, events and attribute rows land in the same
partition. The event log is never loaded whole: an Ibis table on DuckDB (e.g. over a
Parquet file of 100M rows) is streamed by DuckDB into the partition files, and a pandas
frame is wrapped as a DuckDB table and takes the same path. Reading a partition back holds
about ``partition_customers`` customers in memory, whatever the size of the data.

The bucket is ``md5_number_lower(customer_id) % n``: MD5 is the same in every process,
DuckDB version and tool (``int.from_bytes(hashlib.md5(id).digest()[8:], "little")``
reproduces it), so which partition a customer lands in, and hence the order in which a job
writes its rows, never depends on the engine version. DuckDB's ``hash()`` is about 15x
cheaper but only stable within a DuckDB version. The cost of MD5 is paid once per scored
customer, not per event: the buckets are computed on the snapshots, and the events and
customers take their bucket by joining to the written snapshot partitions, which also
drops the rows of customers nobody scores.
"""

import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import ibis
import ibis.expr.datatypes as dt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from behaviorlab.data.contract import CUSTOMER_ID, CUTOFF, VALID_FROM
from behaviorlab.errors import ConfigError

PART = "part"
ARROW_BATCH_ROWS = 1 << 17
# Each open partition file buffers a row group before writing it: small groups keep the
# write's memory near (open files x group size) instead of growing with the data.
ROW_GROUP_ROWS = 16_384


@ibis.udf.scalar.builtin(signature=((dt.string,), dt.uint64))
def md5_number_lower(value):
    """DuckDB's lower 64 bits of the MD5 of a string."""


@dataclass(frozen=True)
class Partition:
    """The snapshots of one group of customers with those customers' events and rows."""

    snapshots: pd.DataFrame
    events: pd.DataFrame | None
    customers: pd.DataFrame | None


class PartitionedInputs:
    """The partitions written to a folder, read back one at a time in bucket order."""

    def __init__(self, folder: Path, schemas: dict[str, pa.Schema]):
        self.folder = folder
        self.schemas = schemas
        written = (folder / "snapshots").glob(f"{PART}=*")
        self.buckets = sorted(int(path.name.removeprefix(f"{PART}=")) for path in written)

    def __len__(self) -> int:
        """Partitions holding at least one snapshot (the others have nothing to score)."""
        return len(self.buckets)

    def __iter__(self) -> Iterator[Partition]:
        for bucket in self.buckets:
            yield Partition(
                snapshots=self.read("snapshots", bucket).sort_values(
                    [CUSTOMER_ID, CUTOFF], kind="stable", ignore_index=True
                ),
                events=self.read("events", bucket),
                customers=sort_customers(self.read("customers", bucket)),
            )

    def read(self, name: str, bucket: int) -> pd.DataFrame | None:
        """One table's rows in one bucket; an empty frame of its columns when it has none."""
        if name not in self.schemas:
            return None
        folder = self.folder / name / f"{PART}={bucket}"
        if not folder.is_dir():
            return self.schemas[name].empty_table().to_pandas()
        return pq.read_table(folder, schema=self.schemas[name]).to_pandas()


def sort_customers(customers: pd.DataFrame | None) -> pd.DataFrame | None:
    """By id (then ``valid_from``): a timed table's latest row is each customer's last."""
    if customers is None:
        return None
    keys = [CUSTOMER_ID, *([VALID_FROM] if VALID_FROM in customers.columns else [])]
    return customers.sort_values(keys, kind="stable", ignore_index=True)


def partition_count(customers: int, partition_customers: int) -> int:
    """How many partitions keep each near ``partition_customers`` customers (at least one)."""
    if partition_customers < 1:
        raise ConfigError(
            f"partition_customers must be a positive integer, not {partition_customers}"
        )
    return max(1, -(-customers // partition_customers))


def bucket_of(customer_ids: ibis.Column, count: int) -> ibis.Value:
    """A customer's partition: its id's MD5 (lower 64 bits) modulo the partition count."""
    return (md5_number_lower(customer_ids.cast("string")) % count).cast("int64")


def arrow_batches(frame: pd.DataFrame) -> pa.Table:
    """A frame as Arrow in record batches (DuckDB scans one batch per thread)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    return pa.Table.from_batches(table.to_batches(max_chunksize=ARROW_BATCH_ROWS), table.schema)


@contextmanager
def engine_tables(
    con: ibis.BaseBackend,
    frames: Mapping[str, pd.DataFrame | ibis.Table | None],
    columns: Mapping[str, Sequence[str] | None],
) -> Iterator[dict[str, ibis.Table]]:
    """Each given input as an Ibis table on ``con`` (narrowed to its ``columns``); pandas
    frames become temporary tables, dropped on exit so a shared connection keeps nothing."""
    created = []
    tables = {}
    try:
        for name, frame in frames.items():
            if frame is None:
                continue
            wanted = columns.get(name)
            if not isinstance(frame, ibis.Table):
                temporary = f"scoring_{name}_{uuid.uuid4().hex}"
                frame = con.create_table(temporary, arrow_batches(frame), temp=True)
                created.append(temporary)
            tables[name] = frame.select(*wanted) if wanted is not None else frame
        yield tables
    finally:
        for temporary in created:
            con.drop_table(temporary, force=True)


def duckdb_backend(*tables) -> ibis.BaseBackend:
    """The DuckDB backend of the first Ibis table given, or a private in-memory one."""
    for table in tables:
        if isinstance(table, ibis.Table):
            backend = table.get_backend()
            if backend.name != "duckdb":
                raise ConfigError(
                    f"partitioned scoring runs on DuckDB; these inputs are on {backend.name}"
                )
            return backend
    return ibis.duckdb.connect()


def quoted(path: Path) -> str:
    """A path as a SQL string literal."""
    return "'" + str(path).replace("'", "''") + "'"


def write_partitioned(con: ibis.BaseBackend, table: ibis.Table, folder: Path) -> None:
    """One pass of DuckDB: every row into ``folder/part=<bucket>/`` as Parquet."""
    con.to_parquet(table, folder, partition_by=PART, row_group_size=ROW_GROUP_ROWS)


def bucketed_by_snapshots(con: ibis.BaseBackend, table: ibis.Table, folder: Path) -> ibis.Table:
    """The rows of scored customers, each with its customer's bucket read from the written
    snapshot partitions (no second hash, and no row of an unscored customer)."""
    pattern = quoted(folder / "snapshots" / "*" / "*.parquet")
    buckets = con.sql(
        f"SELECT DISTINCT {CUSTOMER_ID}, {PART} "
        f"FROM read_parquet({pattern}, hive_partitioning = true)"
    )
    joined = table.inner_join(buckets, CUSTOMER_ID)
    return joined.select(*table.columns, PART)


@contextmanager
def partition_events(
    events: pd.DataFrame | ibis.Table | None,
    customers: pd.DataFrame | ibis.Table | None,
    snapshots: pd.DataFrame | ibis.Table,
    folder: Path,
    partition_customers: int,
    event_columns: Sequence[str] | None = None,
) -> Iterator[PartitionedInputs]:
    """Split the inputs by customer into partitions of about ``partition_customers``
    customers under ``folder``; yield them for reading one at a time, then remove the folder
    (also when the caller fails). ``event_columns`` keeps only the event columns scoring
    reads, so wide property columns never reach the partition files."""
    folder = Path(folder)
    con = duckdb_backend(events, customers, snapshots)
    frames = {"snapshots": snapshots, "events": events, "customers": customers}
    folder.mkdir(parents=True)
    try:
        with engine_tables(con, frames, {"events": event_columns}) as tables:
            snapshot_table = tables.pop("snapshots")
            customer_count = con.execute(snapshot_table[CUSTOMER_ID].nunique())
            count = partition_count(int(customer_count), partition_customers)
            bucket = bucket_of(snapshot_table[CUSTOMER_ID], count)
            write_partitioned(con, snapshot_table.mutate(**{PART: bucket}), folder / "snapshots")
            if any((folder / "snapshots").glob("*/*.parquet")):
                for name, table in tables.items():
                    write_partitioned(con, bucketed_by_snapshots(con, table, folder), folder / name)
            schemas = {"snapshots": snapshot_table.schema().to_pyarrow()} | {
                name: table.schema().to_pyarrow() for name, table in tables.items()
            }
        yield PartitionedInputs(folder, schemas)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
