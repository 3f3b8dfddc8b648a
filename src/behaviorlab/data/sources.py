"""Load a data config's events and customers as validated canonical frames.

A data config (``conf/data/*.yaml``) has an ``events:`` block, an optional ``customers:``
block, an optional ``assignments:`` block (an experiment's groups), ``validation:`` rules
and, for built-in data, a ``simulate:`` block used to generate the files on first use.
See ``behaviorlab.data.contract`` for the canonical columns.
"""

import hashlib
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import ibis
import pandas as pd
import pyarrow as pa

from behaviorlab.data.contract import (
    ASSIGNED_AT,
    ASSIGNMENT_OPTIONAL,
    ASSIGNMENT_REQUIRED,
    CUSTOMER_ID,
    CUSTOMER_REQUIRED,
    EVENT,
    EVENT_OPTIONAL,
    EVENT_REQUIRED,
    SESSION_ID,
    SIGNUP_AT,
    TIMESTAMP,
    VALID_FROM,
    VALID_TO,
)
from behaviorlab.data.mapping import map_columns, source_names
from behaviorlab.data.readers import read_batches, read_table, sql_literal
from behaviorlab.data.staging import (
    STAGED_NAME,
    StagedEvents,
    handle_staged_duplicates,
    staging_folder,
    update_digest,
    write_batches,
)
from behaviorlab.data.validation import (
    DEFAULT_RULES,
    check_assignment_overlap,
    check_id_overlap,
    handle_duplicates,
    validate_assignments,
    validate_customers,
    validate_event_rows,
)
from behaviorlab.engines import events_from_parquet
from behaviorlab.errors import ConfigError, DataValidationError

EVENT_CONTRACT = (*EVENT_REQUIRED, *EVENT_OPTIONAL)
CUSTOMER_CONTRACT = (*CUSTOMER_REQUIRED, SIGNUP_AT)
ASSIGNMENT_CONTRACT = (*ASSIGNMENT_REQUIRED, *ASSIGNMENT_OPTIONAL)
FINGERPRINT_LENGTH = 16


@dataclass(frozen=True)
class Dataset:
    """A data config's validated inputs, with their identity and time span.

    ``events`` is a lazy engine table over the staged canonical event log (``events_path``):
    queries read it where it lies and nothing proportional to its size is held in memory.
    The customer and assignment tables are small (one row per customer) and stay pandas
    frames; ``assignments`` is None when the config has no ``assignments:`` block.
    """

    name: str
    events: ibis.Table | None
    customers: pd.DataFrame | None
    fingerprint: str
    data_start: pd.Timestamp
    data_end: pd.Timestamp
    event_rows: int = 0
    events_path: Path | None = None
    assignments: pd.DataFrame | None = None


def load_dataset(
    data_cfg: Mapping,
    now: pd.Timestamp | None = None,
    engine: ibis.BaseBackend | None = None,
    staging_root: Path | None = None,
) -> Dataset:
    """Validate a data config's sources (simulating built-in data when absent) and open the
    events lazily on ``engine`` (a private DuckDB connection by default).

    The events stream through validation into a Parquet file in a private folder under
    ``staging_root`` (the system's temporary folder by default), removed at once if the
    data is refused, else when the enclosing ``staging_scope`` (an app run) or the process
    ends. ``events: null`` is allowed for attribute-only problems: the customer table is
    the data.
    """
    simulate_if_absent(data_cfg)
    rules = data_cfg.get("validation") or {}
    staged = None
    if data_cfg.get("events"):
        folder = staging_folder(staging_root)
        try:
            staged = stage_events(data_cfg["events"], folder / STAGED_NAME, now=now, rules=rules)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    customers = load_customers(
        data_cfg.get("customers"), events=staged.path if staged else None, rules=rules, now=now
    )
    if staged is None and customers is None:
        raise ConfigError("the data config has neither `events` nor `customers`")
    assignments = load_assignments(data_cfg.get("assignments"), rules=rules, now=now)
    if assignments is not None and staged is None:
        raise ConfigError("`assignments` needs `events` to measure outcomes in")
    if staged is not None:
        event_ids = distinct_event_ids(staged.path)
        check_id_overlap(event_ids, customers, rules)
        check_assignment_overlap(event_ids, assignments)
    digest = staged.digest.copy() if staged else hashlib.sha256(b"none")
    return Dataset(
        name=data_cfg.get("name", "data"),
        events=open_events(engine, staged.path) if staged else None,
        customers=customers,
        fingerprint=finish_fingerprint(digest, customers, assignments),
        data_start=staged.start if staged else pd.NaT,
        data_end=staged.end if staged else pd.NaT,
        event_rows=staged.rows if staged else 0,
        events_path=staged.path if staged else None,
        assignments=assignments,
    )


def open_events(engine: ibis.BaseBackend | None, path: Path) -> ibis.Table:
    """The staged event log as a lazy table of the engine."""
    return events_from_parquet(engine if engine is not None else ibis.duckdb.connect(), path)


def distinct_event_ids(path: Path) -> pd.DataFrame:
    """Each customer id of the staged events once (one row per customer: small)."""
    with duckdb.connect() as con:
        con.execute("set enable_progress_bar = false")
        return con.execute(f"select distinct {CUSTOMER_ID} from read_parquet(?)", [str(path)]).df()


def simulate_if_absent(data_cfg: Mapping) -> None:
    """Generate built-in data on first use, so the default config works on a fresh clone.

    Only the config's own files qualify: every configured source must point where
    ``simulate.out_dir`` writes. A path the user set is theirs, and a missing file there gets
    the ordinary missing-file error; files already in ``out_dir`` are never replaced.
    """
    simulate = data_cfg.get("simulate")
    if not simulate:
        return
    from behaviorlab.data.simulator import FILES, write_simulation

    out_dir = Path(simulate["out_dir"])
    sources = {
        name: data_cfg.get(name)
        for name in ("events", "customers", "assignments")
        if data_cfg.get(name)
    }
    if not sources or not all(
        same_path(source.get("path"), out_dir / f"{name}.parquet")
        for name, source in sources.items()
    ):
        return
    present = sorted(name for name in FILES if (out_dir / f"{name}.parquet").exists())
    if "events" in present:
        return
    if present:
        raise ConfigError(
            f"{out_dir} holds part of a simulation ({', '.join(present)}) but no events; "
            f"remove the folder to simulate again, or run behaviorlab-simulate"
        )
    write_simulation(**simulate)


def same_path(configured: str | None, expected: Path) -> bool:
    """Whether a configured path names the expected file (relative paths from the cwd)."""
    return configured is not None and Path(configured).resolve() == expected.resolve()


def load_events(
    spec: Mapping, now: pd.Timestamp | None = None, rules: Mapping | None = None
) -> pd.DataFrame:
    """Read, map and validate an ``events:`` block into the canonical event frame in memory.

    ``rules`` is the config's ``validation:`` block; ``now`` bounds future timestamps.
    """
    events = pd.concat(valid_event_batches(spec, now, rules), ignore_index=True)
    drop = {**DEFAULT_RULES, **(rules or {})}["drop_duplicates"]
    return handle_duplicates(events, drop, "events")


def stage_events(
    spec: Mapping, path: Path, now: pd.Timestamp | None = None, rules: Mapping | None = None
) -> StagedEvents:
    """Validate an ``events:`` block batch by batch into a canonical Parquet file at ``path``.

    Memory is bounded by the batch size; duplicates are found by a query over the file.
    """
    staged = write_batches(valid_event_batches(spec, now, rules), path)
    drop = {**DEFAULT_RULES, **(rules or {})}["drop_duplicates"]
    return handle_staged_duplicates(staged, drop)


def valid_event_batches(
    spec: Mapping, now: pd.Timestamp | None, rules: Mapping | None
) -> Iterator[pd.DataFrame]:
    """The source's batches mapped to the contract and checked row by row."""
    names = source_names(spec.get("columns"), EVENT_CONTRACT)
    text_columns = [names[column] for column in (CUSTOMER_ID, TIMESTAMP, EVENT, SESSION_ID)]
    for raw in read_batches(spec, text_columns, "events"):
        raw = add_constant_event(raw, spec.get("event_name"), names[EVENT], spec.get("columns"))
        mapped = map_columns(raw, names, EVENT_REQUIRED, spec.get("columns"), "events")
        yield validate_event_rows(mapped, parse_rules(spec, rules), now=now, names=names)


def add_constant_event(
    raw: pd.DataFrame, event_name: str | None, event_column: str, columns: Mapping | None
) -> pd.DataFrame:
    """Transaction files have no event column: every row is the configured event."""
    if not event_name:
        return raw
    if (columns or {}).get(EVENT) or event_column in raw.columns:
        raise ConfigError(
            f"events.event_name is '{event_name}' but the data has an event column "
            f"'{event_column}'; set either event_name or columns.event"
        )
    return raw.assign(**{event_column: event_name})


def load_customers(
    spec: Mapping | None,
    events: pd.DataFrame | Path | None = None,
    rules: Mapping | None = None,
    now: pd.Timestamp | None = None,
) -> pd.DataFrame | None:
    """Read a ``customers:`` block, or derive customers from event properties; None if unset.

    ``valid_from: col`` (optional ``valid_to: col``) names the columns that time each row,
    for a table with several rows per customer joined as of each cutoff; without them the
    table is static (one row per customer, assumed constant).

    ``from_events: [platform, ...]`` describes each customer by the first non-null value of
    those event columns over the whole log (for analyses at the end of the data). Features
    never read this table: the feature spec names the same columns
    (``features.attributes.from_events``) and takes them from the events before each cutoff.
    ``events`` is a canonical frame or the path of a staged event log.
    """
    if not spec:
        return None
    if spec.get("from_events"):
        if events is None:
            raise ConfigError("customers.from_events needs the events to derive customers from")
        return validate_customers(derive_customers(events, spec["from_events"]), rules, now=now)
    names = source_names(spec.get("columns"), CUSTOMER_CONTRACT) | validity_names(spec)
    text_columns = [names[CUSTOMER_ID], names[SIGNUP_AT], *validity_names(spec).values()]
    raw = read_table(spec, text_columns, "customers")
    explicit = {**(spec.get("columns") or {}), **validity_names(spec)}
    mapped = map_columns(raw, names, CUSTOMER_REQUIRED, explicit, "customers")
    return validate_customers(mapped, parse_rules(spec, rules), now=now, names=names)


def load_assignments(
    spec: Mapping | None, rules: Mapping | None = None, now: pd.Timestamp | None = None
) -> pd.DataFrame | None:
    """Read and validate an ``assignments:`` block (columns ``customer_id``, ``group``,
    ``assigned_at``, optional ``variant``); None if unset."""
    if not spec:
        return None
    names = source_names(spec.get("columns"), ASSIGNMENT_CONTRACT)
    text_columns = [names[CUSTOMER_ID], names[ASSIGNED_AT]]
    raw = read_table(spec, text_columns, "assignments")
    mapped = map_columns(raw, names, ASSIGNMENT_REQUIRED, spec.get("columns"), "assignments")
    return validate_assignments(mapped, parse_rules(spec, rules), now=now, names=names)


def validity_names(spec: Mapping) -> dict[str, str]:
    """Contract name -> the user's column for the configured ``valid_from``/``valid_to``."""
    return {name: spec[name] for name in (VALID_FROM, VALID_TO) if spec.get(name)}


def derive_customers(events: pd.DataFrame | Path, attributes: list[str]) -> pd.DataFrame:
    """One row per customer with the first non-null value of each attribute column (in time
    order, ties in row order), computed by DuckDB over a frame or a staged file."""
    attributes = list(attributes)
    with duckdb.connect() as con:
        con.execute("set enable_progress_bar = false")
        if isinstance(events, pd.DataFrame):
            table = pa.Table.from_pandas(events, preserve_index=False)
            con.register("events", table.append_column("row", pa.array(range(len(events)))))
        else:
            con.execute(
                "create view events as select *, file_row_number as row "
                f"from read_parquet({sql_literal(str(events))}, file_row_number = true)"
            )
        columns = con.execute("select * from events limit 0").df().columns
        missing = [column for column in attributes if column not in columns]
        if missing:
            raise DataValidationError(
                f"customers.from_events: column '{missing[0]}' is not in the events; "
                f"available columns: {', '.join(str(c) for c in columns if c != 'row')}"
            )
        firsts = ", ".join(
            f'first("{a}" order by {TIMESTAMP}, row) filter (where "{a}" is not null) as "{a}"'
            for a in attributes
        )
        return con.execute(
            f"select {CUSTOMER_ID}, {firsts} from events group by {CUSTOMER_ID} "
            f"order by {CUSTOMER_ID}"
        ).df()


def parse_rules(spec: Mapping, rules: Mapping | None) -> dict:
    """Validation rules plus the block's own timestamp layout and time zone."""
    return {
        **(rules or {}),
        "timestamp_format": spec.get("timestamp_format"),
        "timezone": spec.get("timezone"),
    }


def finish_fingerprint(
    digest: "hashlib._Hash",
    customers: pd.DataFrame | None,
    assignments: pd.DataFrame | None = None,
) -> str:
    """The data's content hash: the events' (already in ``digest``), the customers', then
    the assignments' when there are any (so data without them keeps its fingerprint).

    Used as a cache key and run tag, so it covers values, column names and dtypes.
    """
    if customers is None:
        digest.update(b"none")
    else:
        update_digest(digest, customers, first=True)
    if assignments is not None:
        digest.update(b"assignments")
        update_digest(digest, assignments, first=True)
    return digest.hexdigest()[:FINGERPRINT_LENGTH]
