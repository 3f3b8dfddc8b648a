"""Running analysis SQL with DuckDB where the data lies: pandas frames or lazy Ibis tables.

An app's event log is a lazy table over a staged Parquet file and may hold 100M rows;
analyses reduce it in SQL, so only per-customer or per-cohort results reach pandas.
"""

import duckdb
import ibis
import pandas as pd
import pyarrow as pa

from behaviorlab.errors import ConfigError

Table = pd.DataFrame | ibis.Table


def query(sql: str, params: dict | None = None, **tables: Table) -> pd.DataFrame:
    """Run ``sql`` with each keyword table visible under that name; return the result.

    Values the user chose (event names, dates) travel as ``$name`` parameters, never
    spliced into the SQL text. A pandas frame goes in as an Arrow table: pandas'
    Arrow-backed strings convert without a copy, and DuckDB scans Arrow many times faster
    than a pandas frame of strings. A lazy table is read by its own DuckDB connection
    (where its source is defined) and is never loaded. Frames alone get a fresh
    connection per call, so analyses share no state.
    """
    lazy = [table for table in tables.values() if isinstance(table, ibis.Table)]
    if not lazy:
        with duckdb.connect() as con:
            return run_on(con, sql, params, tables)
    return run_on(engine_connection(lazy), sql, params, tables)


def run_on(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict | None, tables: dict[str, Table]
) -> pd.DataFrame:
    """Name the tables on ``con`` for this one query, run it, and remove the names again."""
    con.execute("set enable_progress_bar = false")
    named = []
    try:
        for name, table in tables.items():
            if isinstance(table, ibis.Table):
                con.execute(f'create temp view "{name}" as {ibis.to_sql(table, dialect="duckdb")}')
            else:
                con.register(name, pa.Table.from_pandas(table, preserve_index=False))
            named.append((name, table))
        return con.execute(sql, params or {}).df()
    finally:
        for name, table in named:
            if isinstance(table, ibis.Table):
                con.execute(f'drop view if exists "{name}"')
            else:
                con.unregister(name)


def engine_connection(tables: list[ibis.Table]) -> duckdb.DuckDBPyConnection:
    """The one DuckDB connection that defines the lazy tables of a query."""
    backends = {id(backend): backend for backend in map(ibis.get_backend, tables)}
    if len(backends) > 1:
        raise ConfigError("the tables of one analysis query must come from one engine")
    (backend,) = backends.values()
    if backend.name != "duckdb":
        raise ConfigError(f"analyses run on DuckDB; the events are on {backend.name}")
    return backend.con


def has_column(table: Table, column: str) -> bool:
    """Whether a frame or a lazy table has ``column``."""
    return column in table.columns
