"""Load a data config's events and customers as validated canonical frames.

A data config (``conf/data/*.yaml``) has an ``events:`` block, an optional ``customers:``
block, ``validation:`` rules and, for built-in data, a ``simulate:`` block used to generate
the files on first use. See ``behaviorlab.data.contract`` for the canonical columns.
"""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from behaviorlab.data.contract import (
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
from behaviorlab.data.readers import read_table
from behaviorlab.data.validation import check_id_overlap, validate_customers, validate_events
from behaviorlab.errors import ConfigError, DataValidationError

EVENT_CONTRACT = (*EVENT_REQUIRED, *EVENT_OPTIONAL)
CUSTOMER_CONTRACT = (*CUSTOMER_REQUIRED, SIGNUP_AT)
FINGERPRINT_LENGTH = 16


@dataclass(frozen=True)
class Dataset:
    """Validated canonical frames of one data config, with their identity and time span."""

    name: str
    events: pd.DataFrame | None
    customers: pd.DataFrame | None
    fingerprint: str
    data_start: pd.Timestamp
    data_end: pd.Timestamp


def load_dataset(data_cfg: Mapping, now: pd.Timestamp | None = None) -> Dataset:
    """Load and validate a data config's events and customers (simulating them when absent).

    ``events: null`` is allowed for attribute-only problems: the customer table is the data.
    """
    simulate_if_absent(data_cfg)
    rules = data_cfg.get("validation") or {}
    events = (
        load_events(data_cfg["events"], now=now, rules=rules) if data_cfg.get("events") else None
    )
    customers = load_customers(data_cfg.get("customers"), events=events, rules=rules, now=now)
    if events is None and customers is None:
        raise ConfigError("the data config has neither `events` nor `customers`")
    check_id_overlap(events, customers, rules)
    return Dataset(
        name=data_cfg.get("name", "data"),
        events=events,
        customers=customers,
        fingerprint=fingerprint_frames(events, customers),
        data_start=events[TIMESTAMP].min() if events is not None else pd.NaT,
        data_end=events[TIMESTAMP].max() if events is not None else pd.NaT,
    )


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
    sources = {name: data_cfg.get(name) for name in ("events", "customers") if data_cfg.get(name)}
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
    """Read, map and validate an ``events:`` block into the canonical event frame.

    ``rules`` is the config's ``validation:`` block; ``now`` bounds future timestamps.
    """
    names = source_names(spec.get("columns"), EVENT_CONTRACT)
    text_columns = [names[column] for column in (CUSTOMER_ID, TIMESTAMP, EVENT, SESSION_ID)]
    raw = read_table(spec, text_columns, "events")
    raw = add_constant_event(raw, spec.get("event_name"), names[EVENT], spec.get("columns"))
    mapped = map_columns(raw, names, EVENT_REQUIRED, spec.get("columns"), "events")
    return validate_events(mapped, parse_rules(spec, rules), now=now, names=names)


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
    events: pd.DataFrame | None = None,
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


def validity_names(spec: Mapping) -> dict[str, str]:
    """Contract name -> the user's column for the configured ``valid_from``/``valid_to``."""
    return {name: spec[name] for name in (VALID_FROM, VALID_TO) if spec.get(name)}


def derive_customers(events: pd.DataFrame, attributes: list[str]) -> pd.DataFrame:
    """One row per customer with the first non-null value of each attribute column."""
    attributes = list(attributes)
    missing = [column for column in attributes if column not in events.columns]
    if missing:
        raise DataValidationError(
            f"customers.from_events: column '{missing[0]}' is not in the events; "
            f"available columns: {', '.join(map(str, events.columns))}"
        )
    ordered = events.sort_values(TIMESTAMP, kind="stable")
    first = ordered.groupby(CUSTOMER_ID, sort=True)[attributes].first()
    return first.reset_index()


def parse_rules(spec: Mapping, rules: Mapping | None) -> dict:
    """Validation rules plus the block's own timestamp layout and time zone."""
    return {
        **(rules or {}),
        "timestamp_format": spec.get("timestamp_format"),
        "timezone": spec.get("timezone"),
    }


def fingerprint_frames(events: pd.DataFrame, customers: pd.DataFrame | None) -> str:
    """A stable content hash of the canonical frames: same data, same fingerprint.

    Used as a cache key and run tag, so it covers values, column names and dtypes.
    """
    digest = hashlib.sha256()
    for frame in (events, customers):
        if frame is None:
            digest.update(b"none")
            continue
        digest.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:FINGERPRINT_LENGTH]
