"""Read one table exactly as the user wrote it: CSV, Parquet, a DuckDB table or a SQL query.

Readers return the user's column names untouched; mapping and type checks happen later.
DuckDB reads delimited files (it is multi-threaded and decompresses .gz itself); pandas'
C parser reads whitespace-separated files, which DuckDB has no delimiter for.
"""

from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from behaviorlab.errors import ConfigError, DataValidationError

FORMATS = ("csv", "parquet", "duckdb", "sql")
PARQUET_SUFFIXES = (".parquet", ".pq")
WHITESPACE = "whitespace"


def read_table(
    spec: Mapping, text_columns: Sequence[str] = (), what: str = "events"
) -> pd.DataFrame:
    """Read the table a source block describes; reject a table without rows.

    ``text_columns`` are read as text where the format allows it, so that ids such as
    ``00001`` keep their zero padding instead of becoming the integer 1.
    """
    source_format = resolve_format(spec, what)
    if source_format == "csv":
        frame = read_csv(existing_path(spec, what), spec.get("csv") or {}, text_columns, what)
    elif source_format == "parquet":
        frame = pd.read_parquet(existing_path(spec, what))
    elif source_format == "duckdb":
        frame = read_duckdb_table(spec, what)
    else:
        frame = read_sql(spec, what)
    if frame.empty:
        raise DataValidationError(f"{what}: the source {describe_source(spec)} has no rows")
    return frame


def resolve_format(spec: Mapping, what: str) -> str:
    """The configured format, or the one a file's suffix implies."""
    source_format = spec.get("format")
    if source_format is None:
        path = str(spec.get("path", ""))
        return "parquet" if path.endswith(PARQUET_SUFFIXES) else "csv"
    if source_format not in FORMATS:
        raise ConfigError(
            f"{what}.format is '{source_format}'; supported formats: {', '.join(FORMATS)}"
        )
    return source_format


def existing_path(spec: Mapping, what: str) -> Path:
    """The configured file, which must exist (a typo in a path is the commonest mistake)."""
    if not spec.get("path"):
        raise ConfigError(f"{what}.path is not set")
    path = Path(spec["path"])
    if not path.exists():
        raise ConfigError(
            f"{what}.path: no file at {path}; override it on the command line "
            f"(e.g. data.path=/abs/path/to/file)"
        )
    return path


def read_csv(path: Path, options: Mapping, text_columns: Sequence[str], what: str) -> pd.DataFrame:
    """Read a delimited or whitespace-separated file, optionally gzipped, with or without header.

    With ``header: true`` and ``names`` the file's header line is replaced by ``names``.
    """
    header = bool(options.get("header", True))
    names = list(options["names"]) if options.get("names") else None
    if not header and names is None:
        raise ConfigError(f"{what}.csv.names is required when {what}.csv.header is false")
    sep = options.get("sep", ",")
    if sep == WHITESPACE:
        return pd.read_csv(
            path,
            sep=r"\s+",
            header=0 if header else None,
            names=names,
            dtype=dict.fromkeys(text_columns, "str"),
        )
    with duckdb.connect() as con:
        columns = con.read_csv(str(path), header=header, sep=sep, names=names).columns
        as_text = {column: "VARCHAR" for column in text_columns if column in columns}
        relation = con.read_csv(str(path), header=header, sep=sep, names=names, dtype=as_text)
        return relation_to_pandas(relation)


def read_duckdb_table(spec: Mapping, what: str) -> pd.DataFrame:
    """Read a whole table from a DuckDB database file, opened read-only."""
    database = Path(spec.get("database") or "")
    if not database.is_file():
        raise ConfigError(f"{what}.database: no DuckDB database at '{database}'")
    if not spec.get("table"):
        raise ConfigError(f"{what}.table is not set (format: duckdb reads one table)")
    with duckdb.connect(str(database), read_only=True) as con:
        try:
            return relation_to_pandas(con.table(spec["table"]))
        except duckdb.CatalogException:
            tables = sorted(
                con.sql("select table_name from information_schema.tables").df().iloc[:, 0]
            )
            raise ConfigError(
                f"{what}.table: no table '{spec['table']}' in {database}; "
                f"tables: {', '.join(tables) or '(none)'}"
            ) from None


def read_sql(spec: Mapping, what: str) -> pd.DataFrame:
    """Run a SQL query in DuckDB (over a database file if given, else over files it reads)."""
    if not spec.get("query"):
        raise ConfigError(f"{what}.query is not set (format: sql runs one query)")
    database = spec.get("database")
    if database and not Path(database).is_file():
        raise ConfigError(f"{what}.database: no DuckDB database at '{database}'")
    with duckdb.connect(str(database) if database else ":memory:", read_only=bool(database)) as con:
        try:
            return relation_to_pandas(con.sql(spec["query"]))
        except duckdb.Error as error:
            raise ConfigError(f"{what}.query failed in DuckDB: {error}") from None


def relation_to_pandas(relation: duckdb.DuckDBPyRelation) -> pd.DataFrame:
    """Fetch through Arrow (several times faster than ``.df()`` for text columns).

    Decimals become float64, as pandas has no vectorised decimal type.
    """
    table = relation.to_arrow_table()
    schema = pa.schema(
        field.with_type(pa.float64()) if pa.types.is_decimal(field.type) else field
        for field in table.schema
    )
    return table.cast(schema).to_pandas()


def describe_source(spec: Mapping) -> str:
    """A short human name for a source, for messages."""
    if spec.get("path"):
        return str(spec["path"])
    if spec.get("table"):
        return f"table '{spec['table']}' in {spec.get('database')}"
    return f"query '{spec.get('query')}'"
