"""Check mapped event and customer frames against the contract and coerce canonical dtypes.

Runs before any work. Every check is vectorised and a failure raises one
DataValidationError naming the problem, the column (contract name and the user's name),
the count and a few offending rows. Duplicate rows are not a failure: they are reported
as a DataQualityWarning and dropped only when ``drop_duplicates`` is set. Customer-table
ids are checked against the event ids, since a table that joins on nothing silently
leaves every attribute feature missing. An experiment's assignment table (one group per
customer, assigned in the past) must name customers of the events.
"""

import re
import warnings
import zoneinfo
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from pandas.api import types

from behaviorlab.data.contract import (
    AMOUNT,
    ASSIGNED_AT,
    ASSIGNMENT_REQUIRED,
    CUSTOMER_ID,
    CUSTOMER_REQUIRED,
    EVENT,
    EVENT_OPTIONAL,
    EVENT_REQUIRED,
    GROUP,
    SESSION_ID,
    SIGNUP_AT,
    TIMESTAMP,
    TIMESTAMP_DTYPE,
    VALID_FROM,
    VALID_TO,
    VARIANT,
)
from behaviorlab.errors import ConfigError, DataValidationError

TEXT_DTYPE = "str"
N_EXAMPLES = 3
DEFAULT_RULES = {
    "allow_negative_amounts": False,
    "drop_duplicates": False,
    "earliest": "1990-01-01",
    "future_tolerance": "1d",
    "min_id_overlap": 0.5,
    "timestamp_format": None,
    "timezone": None,
}
OFFSET_AT_END = r"(?:Z|[+-]\d{2}:?\d{2})$"
DAYS_SUFFIX = r"(?<=\d)\s*d\b"
EPOCH_DIGITS = {"seconds": (9, 10), "milliseconds": (12, 13)}
ID_SPELLINGS = (
    ("surrounding spaces", lambda ids: ids.str.strip()),
    ("letter case", lambda ids: ids.str.lower()),
    (
        "a trailing '.0' (decimal against integer ids)",
        lambda ids: ids.str.replace(r"\.0+$", "", regex=True),
    ),
    ("leading zeros", lambda ids: ids.str.lstrip("0").replace("", "0")),
)


class DataQualityWarning(UserWarning):
    """Input that is accepted but worth knowing about, such as duplicate rows."""


def validate_events(
    df: pd.DataFrame,
    rules: Mapping | None = None,
    now: pd.Timestamp | None = None,
    names: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Return the events with canonical dtypes and column order, or raise on a broken rule.

    ``df`` carries contract column names; ``names`` (contract -> user name) only makes the
    messages speak of the user's columns. ``now`` defaults to the current UTC time.
    """
    rules = {**DEFAULT_RULES, **(rules or {})}
    events = validate_event_rows(df, rules, now, names)
    return handle_duplicates(events, rules["drop_duplicates"], "events")


def validate_event_rows(
    df: pd.DataFrame,
    rules: Mapping | None = None,
    now: pd.Timestamp | None = None,
    names: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The checks each row passes on its own (everything but duplicates), so that a log too
    large for memory is validated batch by batch with the same rules and messages."""
    rules = {**DEFAULT_RULES, **(rules or {})}
    label = labeller(names)
    reject_empty(df, "events")
    require_columns(df, EVENT_REQUIRED, "events")
    coerced = {
        CUSTOMER_ID: coerce_text(df[CUSTOMER_ID], label(CUSTOMER_ID), allow_missing=False),
        TIMESTAMP: parse_timestamps(
            df[TIMESTAMP], label(TIMESTAMP), rules["timestamp_format"], rules["timezone"]
        ),
        EVENT: coerce_text(df[EVENT], label(EVENT), allow_missing=False),
    }
    if AMOUNT in df.columns:
        coerced[AMOUNT] = coerce_amounts(df[AMOUNT], label(AMOUNT), rules["allow_negative_amounts"])
    if SESSION_ID in df.columns:
        coerced[SESSION_ID] = coerce_text(df[SESSION_ID], label(SESSION_ID), allow_missing=True)
    reject_future(coerced[TIMESTAMP], label(TIMESTAMP), resolve_now(now), rules["future_tolerance"])
    reject_too_early(coerced[TIMESTAMP], label(TIMESTAMP), rules["earliest"])
    return order_columns(df.assign(**coerced), [*EVENT_REQUIRED, *EVENT_OPTIONAL])


def validate_customers(
    df: pd.DataFrame,
    rules: Mapping | None = None,
    now: pd.Timestamp | None = None,
    names: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Return the customers with canonical dtypes; text attributes become categories.

    A missing ``signup_at`` is allowed (the customer's signup is unknown). A static table
    has one row per customer: an id that appears twice would make attributes ambiguous. A
    table with ``valid_from`` (optional ``valid_to``) may have several rows per customer
    whose validity intervals ``[valid_from, valid_to)`` do not overlap.
    """
    rules = {**DEFAULT_RULES, **(rules or {})}
    label = labeller(names)
    reject_empty(df, "customers")
    require_columns(df, CUSTOMER_REQUIRED, "customers")
    if VALID_TO in df.columns and VALID_FROM not in df.columns:
        raise DataValidationError(
            f"customers: {label(VALID_TO)} needs a {label(VALID_FROM)} column to start each row"
        )
    coerced = {CUSTOMER_ID: coerce_text(df[CUSTOMER_ID], label(CUSTOMER_ID), allow_missing=False)}
    coerced |= parse_customer_times(df, label, rules, now)
    keys = (CUSTOMER_ID, SIGNUP_AT, VALID_FROM, VALID_TO)
    attributes = [column for column in df.columns if column not in keys]
    coerced |= {
        column: df[column].astype("category")
        for column in attributes
        if types.is_string_dtype(df[column])
    }
    customers = order_columns(df.assign(**coerced), list(keys))
    customers = handle_duplicates(customers, rules["drop_duplicates"], "customers")
    if VALID_FROM in customers.columns:
        reject_overlapping_rows(customers, label)
    else:
        reject_repeated_ids(customers, label(CUSTOMER_ID))
    return customers


def validate_assignments(
    df: pd.DataFrame,
    rules: Mapping | None = None,
    now: pd.Timestamp | None = None,
    names: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Return an experiment's assignments with canonical dtypes, one row per customer.

    Each customer belongs to one group from one ``assigned_at`` on (not in the future);
    ``variant`` (optional) refines the group. A customer in two groups, or assigned twice,
    would make the comparison ambiguous.
    """
    rules = {**DEFAULT_RULES, **(rules or {})}
    label = labeller(names)
    reject_empty(df, "assignments")
    require_columns(df, ASSIGNMENT_REQUIRED, "assignments")
    coerced = {
        column: coerce_text(df[column], label(column), allow_missing=column == VARIANT)
        for column in (CUSTOMER_ID, GROUP, VARIANT)
        if column in df.columns
    }
    assigned = parse_timestamps(
        df[ASSIGNED_AT], label(ASSIGNED_AT), rules["timestamp_format"], rules["timezone"]
    )
    reject_future(assigned, label(ASSIGNED_AT), resolve_now(now), rules["future_tolerance"])
    assignments = order_columns(
        df.assign(**coerced, **{ASSIGNED_AT: assigned}), [*ASSIGNMENT_REQUIRED, VARIANT]
    )
    assignments = handle_duplicates(assignments, rules["drop_duplicates"], "assignments")
    groups = assignments.groupby(CUSTOMER_ID)[GROUP].transform("nunique")
    in_two = groups > 1
    if in_two.any():
        raise DataValidationError(
            f"column {label(GROUP)} puts {count_phrase(in_two, len(assignments))} rows' "
            f"customers in more than one group: "
            f"{examples(assignments[CUSTOMER_ID] + ' -> ' + assignments[GROUP], in_two)}"
        )
    reject_repeated_ids(assignments, label(CUSTOMER_ID))
    return assignments


def check_assignment_overlap(event_ids: pd.DataFrame, assignments: pd.DataFrame | None) -> None:
    """Assigned customers must appear in the events, or no outcome can be measured."""
    if assignments is None:
        return
    found = assignments[CUSTOMER_ID].isin(event_ids[CUSTOMER_ID])
    if not found.any():
        raise DataValidationError(
            f"assignments: none of the {len(assignments):,} assigned '{CUSTOMER_ID}' values "
            f"appear in the events: assigned e.g. {id_examples(assignments[CUSTOMER_ID])}; "
            f"event ids e.g. {id_examples(event_ids[CUSTOMER_ID])}"
        )


def parse_customer_times(
    df: pd.DataFrame, label: Callable[[str], str], rules: Mapping, now: pd.Timestamp | None
) -> dict[str, pd.Series]:
    """``signup_at`` (optional per row, never in the future), ``valid_from`` (required per
    row) and ``valid_to`` (empty means still valid), each when the table has it."""
    parsed = {
        column: parse_timestamps(
            df[column],
            label(column),
            rules["timestamp_format"],
            rules["timezone"],
            allow_missing=allow_missing,
        )
        for column, allow_missing in ((SIGNUP_AT, True), (VALID_FROM, False), (VALID_TO, True))
        if column in df.columns
    }
    if SIGNUP_AT in parsed:
        reject_future(
            parsed[SIGNUP_AT], label(SIGNUP_AT), resolve_now(now), rules["future_tolerance"]
        )
    return parsed


def reject_overlapping_rows(customers: pd.DataFrame, label: Callable[[str], str]) -> None:
    """Rows of one customer must not be valid at the same time, or the attributes at a
    cutoff would be ambiguous; an empty interval is a mistake too."""
    if VALID_TO in customers.columns:
        empty = customers[VALID_TO] <= customers[VALID_FROM]
        if empty.any():
            raise DataValidationError(
                f"column {label(VALID_TO)} is not after {label(VALID_FROM)} in "
                f"{count_phrase(empty, len(customers))} rows: "
                f"{examples(customers[VALID_TO].astype(str), empty)}"
            )
    ordered = customers.sort_values([CUSTOMER_ID, VALID_FROM], kind="stable")
    same_customer = ordered[CUSTOMER_ID].eq(ordered[CUSTOMER_ID].shift(-1))
    next_start = ordered[VALID_FROM].shift(-1)
    if VALID_TO in ordered.columns:
        ends_after = ordered[VALID_TO].isna() | (ordered[VALID_TO] > next_start)
    else:
        ends_after = ordered[VALID_FROM].eq(next_start)
    overlapping = (same_customer & ends_after).reindex(customers.index)
    if overlapping.any():
        raise DataValidationError(
            f"column {label(CUSTOMER_ID)} has rows valid at the same time: "
            f"{count_phrase(overlapping, len(customers))} rows overlap the customer's next row "
            f"({label(VALID_FROM)} to {label(VALID_TO)}): "
            f"{examples(customers[CUSTOMER_ID], overlapping)}"
        )


def labeller(names: Mapping[str, str] | None) -> Callable[[str], str]:
    """A function naming a contract column the way a user recognises it: 'date' (timestamp)."""
    names = dict(names or {})

    def label(column: str) -> str:
        user = names.get(column, column)
        return f"'{column}'" if user == column else f"'{user}' ({column})"

    return label


def reject_empty(df: pd.DataFrame, what: str) -> None:
    """An empty table is always a mistake upstream (wrong file, filter or query)."""
    if df.empty:
        raise DataValidationError(f"{what}: the input has no rows")


def require_columns(df: pd.DataFrame, required: Sequence[str], what: str) -> None:
    """Name the first missing contract column and list what is there instead."""
    missing = [column for column in required if column not in df.columns]
    if missing:
        raise DataValidationError(
            f"{what}: required column '{missing[0]}' is missing; "
            f"available columns: {', '.join(map(str, df.columns))}"
        )


def examples(values: pd.Series, mask: pd.Series) -> str:
    """A few offending rows as `row <index> <value>`, the index being the row in the input."""
    shown = values[mask.to_numpy()].head(N_EXAMPLES)
    return ", ".join(f"row {index} {value!r}" for index, value in shown.items())


def count_phrase(mask: pd.Series, total: int) -> str:
    """'3 of 1,000' style counts."""
    return f"{int(mask.sum()):,} of {total:,}"


def coerce_text(series: pd.Series, label: str, allow_missing: bool) -> pd.Series:
    """Ids and names as text; integers become their decimal text, other types are refused."""
    if types.is_bool_dtype(series) or types.is_datetime64_any_dtype(series):
        raise wrong_type(series, label, "text or integers")
    if types.is_float_dtype(series):
        fractional = series.notna() & (series % 1 != 0)
        if fractional.any():
            raise DataValidationError(
                f"column {label} holds {count_phrase(fractional, len(series))} non-integer "
                f"numbers where text or integer ids are expected: {examples(series, fractional)}"
            )
        series = series.astype("Int64")
    text = series.astype(TEXT_DTYPE)
    if not allow_missing:
        missing = text.isna() | text.eq("")
        if missing.any():
            raise DataValidationError(
                f"column {label} is empty in {count_phrase(missing, len(text))} rows "
                f"(null ids or names are not allowed): {examples(series, missing)}"
            )
    return text


def wrong_type(series: pd.Series, label: str, expected: str) -> DataValidationError:
    """The error for a column whose dtype cannot mean what the contract needs."""
    return DataValidationError(
        f"column {label} has type {series.dtype}, which cannot be read as {expected} "
        f"({len(series):,} rows): {examples(series, series.notna())}"
    )


def parse_timestamps(
    series: pd.Series,
    label: str,
    timestamp_format: str | None,
    timezone: str | None,
    allow_missing: bool = False,
) -> pd.Series:
    """Timestamps as naive UTC ``datetime64[us]``.

    Text is parsed with ``timestamp_format`` (ISO 8601 when unset). Values with an offset
    are converted with it; naive values are wall-clock time in ``timezone`` (UTC when
    unset). In the repeated hour when clocks go back, naive times are read as standard
    time; times skipped when clocks go forward move forward to the first valid time.
    """
    check_timezone(timezone)
    missing = series.isna()
    if missing.any() and not allow_missing:
        raise DataValidationError(
            f"column {label} has no timestamp in {count_phrase(missing, len(series))} rows: "
            f"{examples(series.astype(object), missing)}"
        )
    if types.is_datetime64_any_dtype(series):
        parsed = series
    elif types.is_string_dtype(series) or (
        types.is_integer_dtype(series) and timestamp_format is not None
    ):
        parsed = parse_text_timestamps(series.astype(TEXT_DTYPE), timestamp_format, timezone)
    else:
        raise DataValidationError(
            str(wrong_type(series, label, "timestamps (set timestamp_format for text or integers)"))
            + epoch_hint(series, label)
        )
    unparsed = parsed.isna() & ~missing
    if unparsed.any():
        layout = f"timestamp_format '{timestamp_format}'" if timestamp_format else "ISO 8601"
        raise DataValidationError(
            f"column {label} has {count_phrase(unparsed, len(series))} values that do not parse "
            f"as timestamps with {layout}: {examples(series, unparsed)}"
            + ("" if timestamp_format else "; set timestamp_format for other layouts")
            + epoch_hint(series, label)
        )
    return to_naive_utc(parsed, timezone).astype(TIMESTAMP_DTYPE)


def epoch_hint(series: pd.Series, label: str) -> str:
    """Advice when every value is a whole number of Unix epoch seconds or milliseconds.

    Epoch numbers are not read as timestamps on their own: a bare integer could as well be
    a date such as 20240131, and guessing the unit wrong shifts every event by years.
    """
    digits = series.dropna().astype(TEXT_DTYPE).str.lstrip("-")
    if digits.empty or not digits.str.fullmatch(r"\d+").all():
        return ""
    lengths = digits.str.len()
    for unit, (shortest, longest) in EPOCH_DIGITS.items():
        if lengths.between(shortest, longest).all():
            function = "to_timestamp" if unit == "seconds" else "epoch_ms"
            column = label.split("' (")[0].strip("'")
            return (
                f"; the values look like Unix epoch {unit}: convert them in a format: sql "
                f"source, e.g. select * replace ({function}({column}) as {column}) "
                f"from read_csv('<file>')"
            )
    return ""


def check_timezone(timezone: str | None) -> None:
    """Fail early, as a config problem, on a time zone name the tz database does not know."""
    if timezone is None:
        return
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"timezone '{timezone}' is not a known IANA time zone (e.g. 'Europe/Paris')"
        ) from None


def parse_text_timestamps(
    text: pd.Series, timestamp_format: str | None, timezone: str | None
) -> pd.Series:
    """Parse text; the result is aware UTC, or naive wall-clock time in ``timezone``."""
    layout = timestamp_format or "ISO8601"
    if timezone is None:
        return pd.to_datetime(text, format=layout, errors="coerce", utc=True)
    has_offset = text.str.contains(OFFSET_AT_END, regex=True, na=False)
    aware = pd.to_datetime(text.where(has_offset), format=layout, errors="coerce", utc=True)
    local = pd.to_datetime(text.where(~has_offset), format=layout, errors="coerce")
    return aware.where(has_offset, localize_to_utc(local, timezone))


def localize_to_utc(naive: pd.Series, timezone: str) -> pd.Series:
    """Read naive wall-clock times in ``timezone`` and express them in UTC."""
    standard_time = np.zeros(len(naive), dtype=bool)
    local = naive.dt.tz_localize(timezone, ambiguous=standard_time, nonexistent="shift_forward")
    return local.dt.tz_convert("UTC")


def to_naive_utc(parsed: pd.Series, timezone: str | None) -> pd.Series:
    """Drop the zone after converting to UTC; naive values in ``timezone`` are localised first."""
    if parsed.dt.tz is not None:
        return parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    if timezone is not None:
        return localize_to_utc(parsed, timezone).dt.tz_localize(None)
    return parsed


def coerce_amounts(series: pd.Series, label: str, allow_negative: bool) -> pd.Series:
    """Amounts as float64; missing amounts are allowed (events without money)."""
    if types.is_bool_dtype(series) or types.is_datetime64_any_dtype(series):
        raise wrong_type(series, label, "numbers")
    amounts = pd.to_numeric(series, errors="coerce").astype("float64")
    not_numeric = amounts.isna() & series.notna()
    if not_numeric.any():
        raise DataValidationError(
            f"column {label} has {count_phrase(not_numeric, len(series))} values that are not "
            f"numbers: {examples(series, not_numeric)}"
        )
    infinite = amounts.notna() & ~np.isfinite(amounts)
    if infinite.any():
        raise DataValidationError(
            f"column {label} has {count_phrase(infinite, len(series))} infinite amounts: "
            f"{examples(series, infinite)}; amounts must be finite numbers"
        )
    negative = amounts < 0
    if negative.any() and not allow_negative:
        raise DataValidationError(
            f"column {label} has {count_phrase(negative, len(series))} negative amounts: "
            f"{examples(series, negative)}; set validation.allow_negative_amounts: true "
            f"if refunds are expected"
        )
    return amounts


def resolve_now(now: pd.Timestamp | None) -> pd.Timestamp:
    """``now`` as naive UTC; the current time when not given."""
    stamp = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tz is not None else stamp


def reject_future(
    timestamps: pd.Series, label: str, now: pd.Timestamp, tolerance: str | None
) -> None:
    """Timestamps after now (plus a tolerance for clock skew) mean a wrong format or zone."""
    limit = now + parse_tolerance(tolerance)
    future = timestamps > limit
    if future.any():
        raise DataValidationError(
            f"column {label} has {count_phrase(future, len(timestamps))} timestamps later than "
            f"now + future_tolerance ({limit}): {examples(timestamps.astype(str), future)}"
        )


def reject_too_early(timestamps: pd.Series, label: str, earliest: str | None) -> None:
    """Timestamps before ``earliest`` are placeholders (1900, the 1970 epoch), not events."""
    if earliest is None:
        return
    try:
        limit = pd.Timestamp(earliest)
    except ValueError:
        raise ConfigError(
            f"validation.earliest '{earliest}' is not a date (e.g. 1990-01-01)"
        ) from None
    early = timestamps < limit
    if early.any():
        raise DataValidationError(
            f"column {label} has {count_phrase(early, len(timestamps))} timestamps before "
            f"validation.earliest ({limit:%Y-%m-%d}): {examples(timestamps.astype(str), early)}; "
            f"such dates are usually placeholders or a wrong unit; lower validation.earliest "
            f"if they are real"
        )


def parse_tolerance(tolerance: str | None) -> pd.Timedelta:
    """A duration such as '1d', '12h' or '30min' (pandas deprecates the lower-case day unit)."""
    text = re.sub(DAYS_SUFFIX, "D", str(tolerance or 0))
    try:
        return pd.Timedelta(text)
    except ValueError:
        raise ConfigError(
            f"validation.future_tolerance '{tolerance}' is not a duration (e.g. 1d, 12h)"
        ) from None


def order_columns(df: pd.DataFrame, leading: Sequence[str]) -> pd.DataFrame:
    """Contract columns first in contract order, then the user's property columns."""
    first = [column for column in leading if column in df.columns]
    return df[first + [column for column in df.columns if column not in first]]


def handle_duplicates(df: pd.DataFrame, drop: bool, what: str) -> pd.DataFrame:
    """Report fully identical rows; drop them only when configured (they may be real repeats)."""
    duplicated = find_duplicates(df)
    if not duplicated.any():
        return df.reset_index(drop=True)
    rows = df.index[duplicated.to_numpy()][:N_EXAMPLES]
    first = df.loc[rows[0]].to_dict()
    action = "dropped" if drop else "kept (set validation.drop_duplicates: true to drop them)"
    warnings.warn(
        f"{what}: {count_phrase(duplicated, len(df))} rows duplicate an earlier row and were "
        f"{action}; e.g. rows {', '.join(map(str, rows))} (row {rows[0]}: {first})",
        DataQualityWarning,
        stacklevel=3,
    )
    kept = df.loc[~duplicated] if drop else df
    return kept.reset_index(drop=True)


def find_duplicates(df: pd.DataFrame) -> pd.Series:
    """Rows identical to an earlier row; row hashes narrow the exact comparison to candidates.

    Comparing all columns of millions of rows directly is several times slower.
    """
    hashes = pd.util.hash_pandas_object(df, index=False)
    candidates = hashes.duplicated(keep=False).to_numpy()
    duplicated = pd.Series(False, index=df.index)
    if candidates.any():
        duplicated[candidates] = df[candidates].duplicated().to_numpy()
    return duplicated


def reject_repeated_ids(customers: pd.DataFrame, label: str) -> None:
    """One row per customer, or attributes would be ambiguous."""
    repeated = customers[CUSTOMER_ID].duplicated(keep=False)
    if repeated.any():
        raise DataValidationError(
            f"column {label} repeats ids: {count_phrase(repeated, len(customers))} rows share "
            f"an id with another row: {examples(customers[CUSTOMER_ID], repeated)}"
        )


def check_id_overlap(
    events: pd.DataFrame | None, customers: pd.DataFrame | None, rules: Mapping | None = None
) -> None:
    """Check that the customer table describes the customers in the events, and say how much.

    The share is of distinct customer-table ids found among event ids. None found is an
    error (with the spelling difference when ids match once written alike, such as
    ``1.0`` against ``1``); a share below ``min_id_overlap`` is an error; any other
    shortfall is a DataQualityWarning.
    """
    if events is None or customers is None:
        return
    minimum = resolve_min_overlap({**DEFAULT_RULES, **(rules or {})}["min_id_overlap"])
    customer_ids = pd.Series(customers[CUSTOMER_ID].unique())
    event_ids = pd.Series(events[CUSTOMER_ID].unique())
    found = customer_ids.isin(event_ids)
    share = float(found.mean())
    if share == 1.0:
        return
    summary = (
        f"'{CUSTOMER_ID}': {share:.1%} ({count_phrase(found, len(found))}) of the customer "
        f"table's ids appear in the events"
    )
    unmatched = (
        f"customer-table ids without events e.g. {id_examples(customer_ids[~found])}; "
        f"event ids e.g. {id_examples(event_ids)}"
    )
    if share < minimum:
        spelling = describe_id_spelling(customer_ids, event_ids)
        advice = (
            f"the ids match once {spelling} is ignored: write them the same way in both sources"
            if spelling
            else "check that both sources describe the same customers and use the same ids"
        )
        raise DataValidationError(
            f"{summary}, below validation.min_id_overlap ({minimum:.0%}): {unmatched}; {advice}"
        )
    warnings.warn(
        f"{summary}; the others have no events ({unmatched})", DataQualityWarning, stacklevel=2
    )


def resolve_min_overlap(value: object) -> float:
    """``min_id_overlap`` as a share in [0, 1]."""
    try:
        share = float(value)
    except (TypeError, ValueError):
        share = float("nan")
    if not 0 <= share <= 1:
        raise ConfigError(f"validation.min_id_overlap '{value}' must be a share between 0 and 1")
    return share


def id_examples(ids: pd.Series) -> str:
    """A few ids, quoted so that spaces and decimals show."""
    return ", ".join(repr(value) for value in ids.head(N_EXAMPLES))


def describe_id_spelling(customer_ids: pd.Series, event_ids: pd.Series) -> str | None:
    """The first spelling difference whose removal makes ids match better, if any."""
    before = customer_ids.isin(event_ids).mean()
    for name, normalise in ID_SPELLINGS:
        customer_ids, event_ids = normalise(customer_ids), normalise(event_ids)
        if customer_ids.isin(event_ids).mean() > before:
            return name
    return None
