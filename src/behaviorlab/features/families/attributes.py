"""Attributes, point in time: numerics as float64, categoricals as category with the levels
frozen at resolution (unseen levels become missing), plus days since signup.

Three sources, each read as of the cutoff in the engine:

- a customer table with ``valid_from`` (optional ``valid_to``; without it a row lasts until
  the customer's next row): the row valid at the cutoff, ``valid_from <= cutoff < valid_to``;
- a static customer table (no ``valid_from``): its one row per customer, assumed constant;
- ``from_events`` columns of the event log: the first non-null value among the customer's
  events strictly before the cutoff (ties at the same instant: the smallest value).
"""

import ibis
import pandas as pd

from behaviorlab.data.contract import (
    CUSTOMER_ID,
    CUTOFF,
    SIGNUP_AT,
    TIMESTAMP,
    VALID_FROM,
    VALID_TO,
)
from behaviorlab.errors import DataValidationError
from behaviorlab.features.engine import (
    SID,
    Events,
    as_event_table,
    connect,
    fetch_by_snapshot,
    snapshot_table,
    to_memtable,
)
from behaviorlab.features.families.common import described

FIRST_AT = "first_at"


def columns(p: dict) -> list[str]:
    """Customer-table columns, then event-derived ones, then days since signup."""
    names = [c["name"] for c in [*p["columns"], *(p.get("from_events") or [])]]
    return [*names, "days_since_signup"] if p.get("signup") else names


def compute(
    customers: pd.DataFrame | None,
    events: Events | None,
    snapshots: pd.DataFrame,
    p: dict,
) -> pd.DataFrame:
    """The attribute columns, one row per snapshot in snapshot order.

    Customer-table values are joined on a private DuckDB connection (the table is small);
    event-derived ones run on the events' backend.
    """
    snaps = snapshot_table(snapshots)
    parts = []
    if p["columns"] or p.get("signup"):
        joined = table_values(customers, snaps, p)
        parts.append(fetch_by_snapshot(connect(), joined, len(snapshots)))
    from_events = p.get("from_events") or []
    if from_events:
        tables = event_values(events, snaps, from_events)
        con = ibis.get_backend(tables[0])
        parts.extend(fetch_by_snapshot(con, t, len(snapshots)) for t in tables)
    frame = pd.concat(parts, axis=1)
    for column in [*p["columns"], *from_events]:
        frame[column["name"]] = restrict_levels(frame[column["name"]], column)
    if p.get("signup"):
        elapsed = snapshots[CUTOFF].to_numpy() - frame[SIGNUP_AT].astype("datetime64[us]")
        frame["days_since_signup"] = elapsed / pd.Timedelta(days=1)
    return frame[columns(p)].reset_index(drop=True)


def table_values(customers: pd.DataFrame | None, snaps: ibis.Table, p: dict) -> ibis.Table:
    """Per snapshot id, the customer row valid at the cutoff (a table with ``valid_from``)
    or the customer's only row (a static table)."""
    if customers is None:
        raise DataValidationError("the feature spec has customer attributes but no customer table")
    wanted = [c["name"] for c in p["columns"]] + ([SIGNUP_AT] if p.get("signup") else [])
    rows = prepared(customers, p["columns"]).astype({CUSTOMER_ID: "str"})
    timed = VALID_FROM in rows.columns
    if not timed:
        rows = rows.drop_duplicates(CUSTOMER_ID, keep="last")
    keys = [CUSTOMER_ID, *(c for c in (VALID_FROM, VALID_TO) if timed and c in rows.columns)]
    table = to_memtable(rows, [*keys, *wanted])
    predicates = [snaps[CUSTOMER_ID] == table[CUSTOMER_ID]]
    if timed:
        table = with_valid_to(table)
        valid_to = table[VALID_TO]
        predicates += [
            table[VALID_FROM] <= snaps[CUTOFF],
            valid_to.isnull() | (snaps[CUTOFF] < valid_to),
        ]
    joined = snaps.left_join(table, predicates)
    return joined.select(joined[SID], *(joined[name] for name in wanted))


def with_valid_to(table: ibis.Table) -> ibis.Table:
    """Rows without an explicit end last until the customer's next ``valid_from``."""
    if VALID_TO in table.columns:
        return table
    order = ibis.window(group_by=table[CUSTOMER_ID], order_by=table[VALID_FROM])
    return table.mutate(**{VALID_TO: table[VALID_FROM].lead().over(order)})


def event_values(events: Events | None, snaps: ibis.Table, described: list[dict]):
    """Per snapshot id, each ``from_events`` column's first value before the cutoff.

    The first value of a column never changes once seen, so it is found once per customer
    (its time and value) and joined to the cutoffs strictly after that time.
    """
    names = [c["name"] for c in described]
    missing = [name for name in names if events is None or name not in events.columns]
    if missing:
        raise DataValidationError(f"the feature spec needs event columns {missing}")
    events = as_event_table(events, names)
    kinds = {c["name"]: as_kind_value(events[c["name"]], c) for c in described}
    table = events.select(CUSTOMER_ID, TIMESTAMP, **kinds)
    tables = []
    for name in names:
        first = first_values(table, name)
        joined = snaps.left_join(
            first, [snaps[CUSTOMER_ID] == first[CUSTOMER_ID], first[FIRST_AT] < snaps[CUTOFF]]
        )
        tables.append(joined.select(joined[SID], joined[name]))
    return tables


def first_values(events: ibis.Table, name: str) -> ibis.Table:
    """Per customer, the earliest time ``name`` has a value and the (smallest) value then."""
    known = events.filter(events[name].notnull())
    first = known.group_by(CUSTOMER_ID).aggregate(**{FIRST_AT: known[TIMESTAMP].min()})
    tied = known.join(first, [CUSTOMER_ID, known[TIMESTAMP] == first[FIRST_AT]])
    return tied.group_by([CUSTOMER_ID, FIRST_AT]).aggregate(**{name: tied[name].min()})


def prepared(frame: pd.DataFrame, described: list[dict]) -> pd.DataFrame:
    """Attribute columns as float64 (numerics) or text (categoricals), engine-ready."""
    return frame.assign(**{c["name"]: as_kind(frame[c["name"]], c) for c in described})


def as_kind(values: pd.Series, column: dict) -> pd.Series:
    """float64, or text compared as strings (missing stays missing)."""
    if column["kind"] == "numeric":
        return values.astype("float64")
    return values.astype("str").where(values.notna())


def as_kind_value(values: ibis.Value, column: dict) -> ibis.Value:
    """The engine's float64, or text compared as strings (missing stays missing)."""
    return values.cast("float64" if column["kind"] == "numeric" else "string")


def restrict_levels(values: pd.Series, column: dict) -> pd.Series:
    """float64, or category over the frozen levels (unseen levels become missing)."""
    values = as_kind(values, column)
    if column["kind"] == "numeric":
        return values
    known = values.where(values.isin(column["levels"]))
    return known.astype(pd.CategoricalDtype(column["levels"]))


def descriptions(p: dict) -> dict[str, dict]:
    """A person's reading of each column: the attribute's own name, printed as
    ``name: value``; days since signup grows with the calendar alone."""
    table = {
        c["name"]: described(
            c["name"].replace("_", " "),
            "level" if c["kind"] == "categorical" else "value",
            "unknown",
        )
        for c in [*p["columns"], *(p.get("from_events") or [])]
    }
    if p.get("signup"):
        table["days_since_signup"] = described(
            "days since signup", "days", "no signup date", calendar=True
        )
    return table
