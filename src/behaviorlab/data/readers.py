"""Read one table exactly as the user wrote it: CSV, Parquet, a DuckDB table or a SQL query.

Readers return the user's column names untouched; mapping and type checks happen later.
DuckDB reads delimited files (it is multi-threaded and decompresses .gz itself); pandas'
C parser reads whitespace-separated files, which DuckDB has no delimiter for.

Every failure to open, decompress, decode or parse a source becomes one single-line
ConfigError or DataValidationError naming the file, what is wrong and what to try. A
gzip file is read to its end marker before use: DuckDB accepts a gzip stream that stops
at a line boundary, which would silently drop the rest of the file.
"""

import codecs
import gzip
import os
import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from behaviorlab.errors import ConfigError, DataValidationError

FORMATS = ("csv", "parquet", "duckdb", "sql")
PARQUET_SUFFIXES = (".parquet", ".pq")
WHITESPACE = "whitespace"
ENCODINGS = {"utf-8": "utf-8", "iso8859-1": "latin-1", "utf-16": "utf-16"}  # Python -> DuckDB
GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
HEAD_BYTES = 512
CHUNK_BYTES = 1 << 20
DELIMITERS = (",", ";", "\t", "|")
MESSAGE_LIMIT = 300
BATCH_ROWS = 1 << 18
DUCKDB_NOISE = ("Possible", "The search space", "file =", "LINE ")


def read_table(
    spec: Mapping, text_columns: Sequence[str] = (), what: str = "events"
) -> pd.DataFrame:
    """The whole table a source block describes, as one frame (customer tables: small)."""
    return pd.concat(read_batches(spec, text_columns, what), ignore_index=True)


def read_batches(
    spec: Mapping, text_columns: Sequence[str] = (), what: str = "events"
) -> Iterator[pd.DataFrame]:
    """The table a source block describes, as frames of at most ``BATCH_ROWS`` rows.

    The source is never held whole: an event log of any size streams through in bounded
    memory. ``text_columns`` are read as text where the format allows it, so that ids such
    as ``00001`` keep their zero padding instead of becoming the integer 1. Each frame's
    index is its rows' position in the source, so messages name rows the user can find. A
    source without rows is rejected.
    """
    source_format = resolve_format(spec, what)
    if source_format == "csv":
        batches = read_csv(
            existing_path(spec, what),
            spec.get("csv") or {},
            text_columns,
            what,
            resolve_encoding(spec, what),
        )
    elif source_format == "parquet":
        batches = read_parquet(existing_path(spec, what), what)
    elif source_format == "duckdb":
        batches = read_duckdb_table(spec, what)
    else:
        batches = read_sql(spec, what)
    rows = 0
    for batch in batches:
        if len(batch):
            batch.index = pd.RangeIndex(rows, rows + len(batch))
            rows += len(batch)
            yield batch
    if not rows:
        raise DataValidationError(f"{what}: the source {describe_source(spec)} has no rows")


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


def resolve_encoding(spec: Mapping, what: str) -> str:
    """The text encoding of a delimited file (``encoding:``, UTF-8 when unset)."""
    name = spec.get("encoding") or "utf-8"
    try:
        canonical = codecs.lookup(name).name
    except LookupError:
        canonical = None
    if canonical not in ENCODINGS:
        raise ConfigError(
            f"{what}.encoding '{name}' is not supported; use one of {', '.join(ENCODINGS.values())}"
        )
    return ENCODINGS[canonical]


def existing_path(spec: Mapping, what: str) -> Path:
    """The configured file, which must exist, be a readable file and hold some bytes."""
    if not spec.get("path"):
        raise ConfigError(f"{what}.path is not set")
    path = Path(spec["path"])
    if not path.exists():
        raise ConfigError(
            f"{what}.path: no file at {path}; override it on the command line "
            f"(e.g. data.path=/abs/path/to/file)"
        )
    if path.is_dir():
        raise ConfigError(
            f"{what}.path: {path} is a directory, not a file; point {what}.path at one file "
            f"(a folder of Parquet parts reads with {what}.format: sql and "
            f"query: select * from read_parquet('{path}/*.parquet'))"
        )
    if not os.access(path, os.R_OK):
        raise ConfigError(f"{what}.path: {path} cannot be read (permission denied)")
    if path.stat().st_size == 0:
        raise DataValidationError(f"{what}.path: {path} is empty (0 bytes)")
    return path


def read_head(path: Path) -> bytes:
    """The first bytes of a file, to recognise compression and misnamed formats."""
    with path.open("rb") as stream:
        return stream.read(HEAD_BYTES)


def looks_like_text(head: bytes) -> bool:
    """True when the bytes hold no control characters other than tabs and line breaks."""
    return not any(byte < 9 or 13 < byte < 32 for byte in head)


def read_parquet(path: Path, what: str) -> Iterator[pd.DataFrame]:
    """Read a Parquet file by batches; a file that is not Parquet says what it looks like."""
    try:
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
            yield batch.to_pandas()
    except (pa.ArrowException, OSError) as error:
        head = read_head(path)
        hint = "the file is damaged or incomplete; write or copy it again"
        if head.startswith(GZIP_MAGIC) or looks_like_text(head):
            hint = f"it looks like a delimited text file: set {what}.format: csv"
        raise DataValidationError(
            f"{what}.path: {path} is not a readable Parquet file ({summarise(error)}); {hint}"
        ) from None


def read_csv(
    path: Path,
    options: Mapping,
    text_columns: Sequence[str],
    what: str,
    encoding: str = "utf-8",
) -> Iterator[pd.DataFrame]:
    """Read a delimited or whitespace-separated file by batches, optionally gzipped, with or
    without header.

    With ``header: true`` and ``names`` the file's header line is replaced by ``names``.
    """
    header = bool(options.get("header", True))
    names = list(options["names"]) if options.get("names") else None
    if not header and names is None:
        raise ConfigError(f"{what}.csv.names is required when {what}.csv.header is false")
    sep = options.get("sep", ",")
    gzipped = check_compression(path, what)
    if sep == WHITESPACE:
        yield from read_whitespace(path, header, names, text_columns, gzipped, encoding, what)
        return
    batches = read_delimited(path, header, names, sep, text_columns, gzipped, encoding, what)
    for batch in batches:
        if header and names is None:
            reject_wrong_delimiter(batch, sep, path, what)
        yield batch


def check_compression(path: Path, what: str) -> bool:
    """Whether the file is gzip, verified to its end; a Parquet file here is a format mix-up."""
    head = read_head(path)
    if head.startswith(PARQUET_MAGIC):
        raise DataValidationError(
            f"{what}.path: {path} is a Parquet file, not delimited text: set {what}.format: parquet"
        )
    if head.startswith(GZIP_MAGIC):
        verify_gzip(path, what)
        return True
    if path.suffix == ".gz":
        raise DataValidationError(
            f"{what}.path: {path} ends in .gz but is not gzip data; rename it without .gz "
            f"if it is plain text, or compress it again"
        )
    return False


def verify_gzip(path: Path, what: str) -> None:
    """Decompress the whole stream and check its trailer (CRC and length), discarding output.

    A copy cut short, even at a line boundary, has no trailer and fails here.
    """
    buffer = bytearray(CHUNK_BYTES)
    try:
        with gzip.open(path, "rb") as stream:
            while stream.readinto(buffer):
                pass
    except EOFError:
        raise DataValidationError(
            f"{what}.path: {path} is a truncated gzip file (the compressed stream ends before "
            f"its end marker, so rows are missing); copy or compress the file again"
        ) from None
    except (OSError, zlib.error) as error:
        raise DataValidationError(
            f"{what}.path: {path} is a corrupt gzip file ({summarise(error)}); "
            f"copy or compress the file again"
        ) from None


def read_delimited(
    path: Path,
    header: bool,
    names: list[str] | None,
    sep: str,
    text_columns: Sequence[str],
    gzipped: bool,
    encoding: str,
    what: str,
) -> Iterator[pd.DataFrame]:
    """Read a delimited file with DuckDB; ``skip=0`` stops the sniffer from dropping rows."""
    arguments = [
        sql_literal(str(path)),
        f"header = {str(header).lower()}",
        f"delim = {sql_literal(sep)}",
        "skip = 0",
        f"encoding = {sql_literal(encoding)}",
        f"compression = {sql_literal('gzip' if gzipped else 'auto')}",
    ]
    if names is not None:
        arguments.append(f"names = [{', '.join(map(sql_literal, names))}]")
    source = f"select * from read_csv({', '.join(arguments)}"
    with connect_database(None, what) as con:
        try:
            columns = con.sql(f"{source})").columns
            as_text = [column for column in text_columns if column in columns]
            types = ", ".join(f"{sql_literal(column)}: 'VARCHAR'" for column in as_text)
            relation = con.sql(f"{source}, types = {{{types}}})" if as_text else f"{source})")
            yield from relation_batches(relation)
        except (duckdb.Error, pa.ArrowException, OSError) as error:
            raise DataValidationError(csv_failure(path, error, sep, encoding, what)) from None


def read_whitespace(
    path: Path,
    header: bool,
    names: list[str] | None,
    text_columns: Sequence[str],
    gzipped: bool,
    encoding: str,
    what: str,
) -> Iterator[pd.DataFrame]:
    """Read a whitespace-separated file with pandas' C parser, by batches."""
    try:
        yield from pd.read_csv(
            path,
            sep=r"\s+",
            header=0 if header else None,
            names=names,
            dtype=dict.fromkeys(text_columns, "str"),
            encoding=encoding,
            compression="gzip" if gzipped else "infer",
            chunksize=BATCH_ROWS,
        )
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise DataValidationError(csv_failure(path, error, WHITESPACE, encoding, what)) from None


def csv_failure(path: Path, error: Exception, sep: str, encoding: str, what: str) -> str:
    """One line: the file, the parser's own words, and the setting most likely to fix it."""
    text = str(error)
    if isinstance(error, UnicodeDecodeError) or "unicode" in text.lower():
        hint = (
            f"the file is not {encoding} text: set {what}.encoding to its encoding "
            f"(e.g. {what}.encoding: latin-1)"
        )
    elif "convert" in text.lower():
        hint = (
            "the value does not fit the type detected from the rows before it; correct or remove it"
        )
    else:
        hint = (
            f"check {what}.csv.sep (now {sep!r}) and {what}.csv.header, and that every line "
            f"has as many fields as the header"
        )
    return f"{what}.path: cannot read {path} as delimited text ({summarise(error)}); {hint}"


def reject_wrong_delimiter(frame: pd.DataFrame, sep: str, path: Path, what: str) -> None:
    """One column whose name holds another common delimiter means ``csv.sep`` is wrong."""
    if len(frame.columns) != 1:
        return
    name = str(frame.columns[0])
    others = [delimiter for delimiter in DELIMITERS if delimiter != sep and delimiter in name]
    if others:
        raise DataValidationError(
            f"{what}.path: {path} has a single column {name!r} when split on {sep!r}; "
            f"its header looks {others[0]!r}-separated: set {what}.csv.sep: {others[0]!r}"
        )


def read_duckdb_table(spec: Mapping, what: str) -> Iterator[pd.DataFrame]:
    """Read a whole table from a DuckDB database file, opened read-only."""
    database = Path(spec.get("database") or "")
    if not database.is_file():
        raise ConfigError(f"{what}.database: no DuckDB database at '{database}'")
    if not spec.get("table"):
        raise ConfigError(f"{what}.table is not set (format: duckdb reads one table)")
    with connect_database(database, what) as con:
        try:
            yield from relation_batches(con.table(spec["table"]))
        except duckdb.CatalogException:
            tables = sorted(
                con.sql("select table_name from information_schema.tables").df().iloc[:, 0]
            )
            raise ConfigError(
                f"{what}.table: no table '{spec['table']}' in {database}; "
                f"tables: {', '.join(tables) or '(none)'}"
            ) from None
        except (duckdb.Error, pa.ArrowException) as error:
            raise DataValidationError(
                f"{what}.table: reading '{spec['table']}' from {database} failed "
                f"({summarise(error)})"
            ) from None


def read_sql(spec: Mapping, what: str) -> Iterator[pd.DataFrame]:
    """Run a SQL query in DuckDB (over a database file if given, else over files it reads)."""
    if not spec.get("query"):
        raise ConfigError(f"{what}.query is not set (format: sql runs one query)")
    database = spec.get("database")
    if database and not Path(database).is_file():
        raise ConfigError(f"{what}.database: no DuckDB database at '{database}'")
    with connect_database(Path(database) if database else None, what) as con:
        try:
            relation = con.sql(spec["query"])
            if relation is None:
                raise ConfigError(f"{what}.query returns no table; it must be one select query")
            yield from relation_batches(relation)
        except (duckdb.Error, pa.ArrowException) as error:
            raise ConfigError(f"{what}.query failed in DuckDB: {summarise(error)}") from None


def connect_database(database: Path | None, what: str) -> duckdb.DuckDBPyConnection:
    """An in-memory connection, or a database file opened read-only.

    The progress bar is off: DuckDB draws it on stderr for reads over two seconds, where
    it would mix with the apps' one-line messages.
    """
    try:
        con = duckdb.connect(str(database), read_only=True) if database else duckdb.connect()
    except duckdb.Error as error:
        raise ConfigError(
            f"{what}.database: cannot open {database} as a DuckDB database ({summarise(error)})"
        ) from None
    con.execute("set enable_progress_bar = false")
    return con


def relation_batches(relation: duckdb.DuckDBPyRelation) -> Iterator[pd.DataFrame]:
    """Stream a relation through Arrow (several times faster than ``.df()`` for text).

    Decimals become float64, as pandas has no vectorised decimal type.
    """
    reader = relation.to_arrow_reader(BATCH_ROWS)
    schema = pa.schema(
        field.with_type(pa.float64()) if pa.types.is_decimal(field.type) else field
        for field in reader.schema
    )
    for batch in reader:
        yield pa.Table.from_batches([batch]).cast(schema).to_pandas()


def sql_literal(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def summarise(error: Exception) -> str:
    """A reader's error on one short line: its first paragraph without advice or echoed rows."""
    kept = []
    for line in str(error).strip().splitlines():
        line = line.strip()
        if not line or line.startswith(DUCKDB_NOISE):
            break
        if not line.startswith("Original Line"):
            kept.append(line)
    text = re.sub(r"\s+", " ", " ".join(kept)) or type(error).__name__
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 3] + "..."


def describe_source(spec: Mapping) -> str:
    """A short human name for a source, for messages."""
    if spec.get("path"):
        return str(spec["path"])
    if spec.get("table"):
        return f"table '{spec['table']}' in {spec.get('database')}"
    query = re.sub(r"\s+", " ", str(spec.get("query")).strip())
    return f"query '{query}'"
