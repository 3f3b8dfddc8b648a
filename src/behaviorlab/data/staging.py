"""The event log staged as a validated canonical Parquet file, in bounded memory.

A job reads its source once, batch by batch: each batch is mapped and checked by the same
row rules as an in-memory load, then appended to a Parquet file that the engine (DuckDB
here, Spark on a cluster) reads lazily. Checks that need every row at once (duplicates)
run afterwards as queries over that file. The source is never held whole, so the peak
memory of a load depends on the batch size, not on the size of the log.

The fingerprint is the same content hash as an in-memory load's: the column dtypes, then
pandas' row hashes (``hash_pandas_object``) of every row in source order. Row hashes do
not depend on how rows are batched, so the value is stable across batch sizes, machines
and runs, and it changes with any value, column name or type.
"""

import atexit
import contextlib
import hashlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from behaviorlab.data.contract import TIMESTAMP
from behaviorlab.data.validation import N_EXAMPLES, DataQualityWarning, find_duplicates
from behaviorlab.errors import DataValidationError
from behaviorlab.processes import process_alive

STAGED_NAME = "events.parquet"
DUPLICATE_MEMORY = "300MB"


@dataclass(frozen=True)
class StagedEvents:
    """A validated event log on disk: where, how many rows, its time span and content hash."""

    path: Path
    rows: int
    start: pd.Timestamp
    end: pd.Timestamp
    digest: "hashlib._Hash"


def update_digest(digest: "hashlib._Hash", frame: pd.DataFrame, first: bool) -> None:
    """Add a batch to a content hash: the dtypes once, then the batch's row hashes."""
    if first:
        digest.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())


def write_batches(batches: Iterator[pd.DataFrame], path: Path) -> StagedEvents:
    """Append validated batches to a Parquet file, hashing and measuring them on the way."""
    digest = hashlib.sha256()
    writer, rows = None, 0
    start, end = pd.Timestamp.max, pd.Timestamp.min
    try:
        for batch in batches:
            table = pa.Table.from_pandas(batch, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            else:
                table = conform(table, writer.schema, rows)
            writer.write_table(table)
            update_digest(digest, batch, first=not rows)
            rows += len(batch)
            start, end = min(start, batch[TIMESTAMP].min()), max(end, batch[TIMESTAMP].max())
    finally:
        if writer is not None:
            writer.close()
    return StagedEvents(path, rows, start, end, digest)


def conform(table: pa.Table, schema: pa.Schema, first_row: int) -> pa.Table:
    """A later batch in the first batch's column types; a column whose type changes fails."""
    if table.schema.equals(schema):
        return table
    if table.schema.names != schema.names:
        raise DataValidationError(
            f"events: the columns change at row {first_row}: {table.schema.names} "
            f"instead of {schema.names}"
        )
    columns = []
    for name, field in zip(schema.names, schema, strict=True):
        column = table[name]
        if pa.types.is_null(field.type) and not pa.types.is_null(column.type):
            raise DataValidationError(
                f"events: column '{name}' is empty in the first rows and has values of type "
                f"{column.type} from row {first_row}; give it one type throughout"
            )
        try:
            columns.append(column.cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise DataValidationError(
                f"events: column '{name}' changes type at row {first_row} "
                f"({field.type} before, {column.type} after); give it one type throughout"
            ) from None
    return pa.Table.from_arrays(columns, schema=schema)


def duplicate_rows(path: Path) -> pd.DataFrame:
    """Rows identical to an earlier row of the staged file, by position (``row``).

    A hash aggregate in DuckDB narrows the check to rows sharing a row hash; those few are
    compared exactly in pandas. Beyond a small memory limit the aggregate spills beside the
    staged file, so the check's memory does not grow with the log.
    """
    spill = path.parent / "duckdb-spill"
    config = {"memory_limit": DUPLICATE_MEMORY, "temp_directory": str(spill)}
    with duckdb.connect(config=config) as con:
        con.execute("set enable_progress_bar = false")
        columns = pq.read_schema(path).names
        hashed = ", ".join(f'"{c}"' for c in columns)
        candidates = con.execute(
            f"""
            with hashed as (
                select file_row_number as row, hash({hashed}) as h
                from read_parquet(?, file_row_number = true)
            ),
            repeated as (select h from hashed group by h having count(*) > 1)
            select row from hashed semi join repeated using (h) order by row
            """,
            [str(path)],
        ).fetchnumpy()["row"]
        if not len(candidates):
            return pd.DataFrame(columns=columns)
        rows = con.execute(
            "select * exclude (file_row_number), file_row_number as row "
            "from read_parquet(?, file_row_number = true) "
            "where file_row_number in (select unnest(?)) order by row",
            [str(path), candidates.tolist()],
        ).df()
    frame = rows.set_index("row")
    return frame.loc[find_duplicates(frame).to_numpy()]


def handle_staged_duplicates(staged: StagedEvents, drop: bool) -> StagedEvents:
    """Warn about fully identical rows; rewrite the file without them when asked to drop."""
    duplicated = duplicate_rows(staged.path)
    if duplicated.empty:
        return staged
    examples = duplicated.index[:N_EXAMPLES]
    first = duplicated.iloc[0].to_dict()
    action = "dropped" if drop else "kept (set validation.drop_duplicates: true to drop them)"
    warnings.warn(
        f"events: {len(duplicated):,} of {staged.rows:,} rows duplicate an earlier row and were "
        f"{action}; e.g. rows {', '.join(map(str, examples))} (row {examples[0]}: {first})",
        DataQualityWarning,
        stacklevel=3,
    )
    if not drop:
        return staged
    return rewrite_without(staged.path, set(duplicated.index.tolist()))


def rewrite_without(path: Path, dropped: set[int]) -> StagedEvents:
    """The staged file again without the given row positions (and its new hash)."""
    kept_path = path.with_name(f"dedup-{path.name}")

    drop = np.fromiter(dropped, dtype=np.int64)

    def kept_batches() -> Iterator[pd.DataFrame]:
        offset = 0
        for batch in pq.ParquetFile(path).iter_batches():
            frame = batch.to_pandas()
            positions = np.arange(offset, offset + len(frame))
            offset += len(frame)
            yield frame.loc[~np.isin(positions, drop)].reset_index(drop=True)

    staged = write_batches(kept_batches(), kept_path)
    os.replace(kept_path, path)
    return StagedEvents(path, staged.rows, staged.start, staged.end, staged.digest)


CREATED: list[Path] = []


def staging_folder(root: Path | None) -> Path:
    """A private folder for staged files, removed at the end of the enclosing
    ``staging_scope`` (every app run has one) or else when the process ends.

    Folders left by processes that died without cleaning up are removed first.
    """
    base = Path(root) if root else Path(tempfile.gettempdir()) / "behaviorlab-staging"
    base.mkdir(parents=True, exist_ok=True)
    remove_abandoned(base)
    folder = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=base))
    CREATED.append(folder)
    return folder


@contextlib.contextmanager
def staging_scope() -> Iterator[None]:
    """Remove the staging folders made inside the block when it ends, however it ends, so
    a job leaves no staged copy of the data behind (folders made before it are kept)."""
    first = len(CREATED)
    try:
        yield
    finally:
        remove_folders(first)


def remove_folders(first: int = 0) -> None:
    """Remove the staging folders made since the ``first``-th."""
    for folder in CREATED[first:]:
        shutil.rmtree(folder, ignore_errors=True)
    del CREATED[first:]


atexit.register(remove_folders)


def remove_abandoned(base: Path) -> None:
    """Remove staging folders whose owning process is no longer running."""
    for folder in base.iterdir():
        owner = folder.name.split("-", 1)[0]
        if owner.isdigit() and int(owner) != os.getpid() and not process_alive(int(owner)):
            shutil.rmtree(folder, ignore_errors=True)
