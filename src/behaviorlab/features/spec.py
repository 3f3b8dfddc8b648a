"""Feature specifications: defaults, resolution against data, and the columns they produce.

``resolve_feature_spec`` freezes every choice that depends on the data (which event types,
which session source, which attribute levels) from the history before ``as_of`` only, so
no later event can change which features exist. A model carries the resolved spec, and
scoring rebuilds exactly the same columns, in the same order, with the same dtypes.
"""

import copy
import warnings

import ibis
import pandas as pd

from behaviorlab.data.contract import (
    AMOUNT,
    CUSTOMER_ID,
    EVENT,
    SESSION_ID,
    SIGNUP_AT,
    TIMESTAMP,
    VALID_FROM,
    VALID_TO,
)
from behaviorlab.data.validation import DataQualityWarning
from behaviorlab.errors import ConfigError, DataValidationError
from behaviorlab.features.engine import Events, as_event_table, fetch, fetch_value
from behaviorlab.features.families import FAMILY_MODULES
from behaviorlab.features.families import clv as clv_family
from behaviorlab.features.snapshots import FIRST_SEEN, first_seen

FAMILIES = (
    "rfm",
    "activity",
    "trends",
    "timing",
    "sessions",
    "diversity",
    "funnel",
    "disengagement",
    "attributes",
)
EVENT_FAMILIES = FAMILIES[:-1]
# In a resolved spec only when switched on, so specs without them (older models) stay valid
# and switching them off changes no resolved spec, cache key or fingerprint.
OPTIONAL_FAMILIES = {"clv": clv_family}
MODULES = {**FAMILY_MODULES, **OPTIONAL_FAMILIES}

DEFAULTS: dict = {
    "windows": [7, 30, 90],
    "purchase_events": ["purchase"],
    "rfm": {"enabled": True},
    "activity": {"enabled": True, "event_types": None, "top_k": 8},
    "trends": {"enabled": True, "windows": [7, 30], "slope_weeks": 8},
    "timing": {"enabled": True, "key_events": ["purchase", "support_contact"]},
    "sessions": {"enabled": True, "source": "auto", "gap_minutes": 30},
    "diversity": {"enabled": True},
    "funnel": {
        "enabled": True,
        "steps": [["page_view", "product_view"], ["add_to_cart"], ["checkout"], ["purchase"]],
        "windows": [30],
    },
    "disengagement": {
        "enabled": True,
        "half_lives": [7, 30, 90],
        "gaps": False,
        "purchases": False,
        "sessions": False,
        "session_windows": [7, 30],
    },
    "attributes": {"enabled": True, "columns": None, "exclude": [], "from_events": None},
    "clv": clv_family.DEFAULTS,
}
TABLE_KEYS = (CUSTOMER_ID, SIGNUP_AT, VALID_FROM, VALID_TO)


def normalise_family(value, defaults: dict) -> dict:
    """``true``/``false``/a dict of overrides -> a full parameter dict with ``enabled``."""
    params = copy.deepcopy(defaults)
    if isinstance(value, bool):
        params["enabled"] = value
    elif isinstance(value, dict):
        params.update(copy.deepcopy(value))
        params["enabled"] = bool(value.get("enabled", True))
    elif value is not None:
        raise ConfigError(f"a feature family must be true, false or a mapping, got {value!r}")
    return params


def top_event_types(events: Events, top_k: int) -> list[str]:
    """The K most frequent event types (ties broken by name, so the choice is stable).

    The engine counts per type; only one row per event type comes back."""
    table = as_event_table(events)
    known = table.filter(table[EVENT].notnull())
    counts = fetch(ibis.get_backend(table), known.group_by(EVENT).aggregate(n=known.count()))
    ranked = counts.sort_values(["n", EVENT], ascending=[False, True], kind="stable")
    return [str(name) for name in ranked[EVENT].head(int(top_k))]


def has_values(events: Events, column: str) -> bool:
    """The optional column exists and holds at least one value."""
    if column not in events.columns:
        return False
    table = as_event_table(events, [column])
    return int(fetch_value(table, table[column].count())) > 0


def session_source(requested: str, history: ibis.Table, events: Events) -> str:
    """``session_id`` when asked for (or, under ``auto``, when the history has ids), else
    the inactivity gap. An explicit request only needs the log to carry ids at all."""
    if requested == "auto":
        return "session_id" if has_values(history, SESSION_ID) else "gap"
    if requested == "session_id" and not has_values(events, SESSION_ID):
        raise ConfigError("features.sessions.source is session_id but the events have none")
    if requested not in ("session_id", "gap"):
        raise ConfigError(f"features.sessions.source must be auto, session_id or gap: {requested}")
    return requested


def describe_attributes(customers: pd.DataFrame, params: dict, skip=()) -> list[dict]:
    """Each attribute column with its kind and, for categoricals, the frozen sorted levels."""
    skip = {*TABLE_KEYS, *params.get("exclude", []), *skip}
    names = params.get("columns") or list(customers.columns)
    names = [name for name in names if name not in skip]
    described = []
    for name in names:
        column = customers[name]
        if pd.api.types.is_datetime64_any_dtype(column):
            continue
        if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
            described.append({"name": name, "kind": "numeric"})
        else:
            levels = sorted({str(v) for v in column.dropna().unique()})
            described.append({"name": name, "kind": "categorical", "levels": levels})
    return described


def as_timestamp(value) -> pd.Timestamp | None:
    """A date, or None for no bound (``None``, NaT)."""
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value)


def history_before(events: Events, as_of: pd.Timestamp | None) -> ibis.Table:
    """The events a spec may learn from: strictly before ``as_of`` (all when unbounded), as
    an engine table (nothing is read until a choice is computed from it)."""
    table = as_event_table(events)
    return table if as_of is None else table.filter(table[TIMESTAMP] < as_of)


def rows_known_at(customers: pd.DataFrame | None, as_of: pd.Timestamp | None):
    """Customer rows a spec may learn from: those already valid at ``as_of``. A static
    table has no time, so all of it (its attributes are assumed constant)."""
    if customers is None or as_of is None or VALID_FROM not in customers.columns:
        return customers
    return customers.loc[customers[VALID_FROM] <= as_of]


def resolve_feature_spec(
    spec: dict, events: Events | None, customers: pd.DataFrame | None, as_of=None
) -> dict:
    """Freeze every data-dependent choice from the history before ``as_of`` (default: the
    spec's own ``as_of``; unbounded when neither is set). A resolved spec resolves to itself.

    Training resolves as of its earliest cutoff, so every cutoff's features (names
    included) depend on its past only. ``events`` is a pandas frame or an Ibis table; the
    choices are aggregate queries on its backend.
    """
    if spec.get("resolved"):
        return copy.deepcopy(spec)
    as_of = as_timestamp(spec.get("as_of") if as_of is None else as_of)
    resolved = {
        "resolved": True,
        "as_of": None if as_of is None else as_of.isoformat(),
        "windows": sorted({int(w) for w in spec.get("windows", DEFAULTS["windows"])}),
        "purchase_events": list(spec.get("purchase_events", DEFAULTS["purchase_events"])),
    }
    for family in FAMILIES:
        resolved[family] = normalise_family(spec.get(family), DEFAULTS[family])
    if events is not None:
        named = named_event_attributes(resolved["attributes"])
        require_event_columns(events, named)
        events = as_event_table(events, named)
    history = None if events is None else history_before(events, as_of)
    if events is None:
        for family in EVENT_FAMILIES:
            resolved[family]["enabled"] = False
    else:
        warn_if_no_history(events, as_of)
        freeze_event_choices(resolved, history, events)
        freeze_clv(resolved, spec.get("clv"), history)
    known = rows_known_at(customers, as_of)
    freeze_attributes(resolved["attributes"], known, history)
    resolved["dropped"] = duplicate_features(resolved, history, known)
    warn_if_dropped(resolved["dropped"], as_of)
    check_unique(feature_columns(resolved))
    return resolved


def duplicate_features(
    resolved: dict, history: ibis.Table | None, customers: pd.DataFrame | None
) -> dict[str, str]:
    """Features equal to another one by definition on this data, each with the one it repeats.

    ``tenure_days`` (days since the first event) is ``days_since_signup`` when every
    customer's first event before ``as_of`` is at their signup (a log that starts with the
    signup): it is dropped, and days since signup, defined even before any event, is kept.
    Decided from the history and customer rows known at ``as_of`` only.
    """
    if not (resolved["rfm"]["enabled"] and resolved["attributes"].get("signup")):
        return {}
    if history is None or customers is None:
        return {}
    first = first_seen(history).set_index(CUSTOMER_ID)[FIRST_SEEN]
    if first.empty:
        return {}
    signup = customers.drop_duplicates(CUSTOMER_ID, keep="last").set_index(CUSTOMER_ID)[SIGNUP_AT]
    signup.index = signup.index.astype("str")
    first.index = first.index.astype("str")
    both = first.index.intersection(signup.index)
    if both.empty:
        return {}
    same = pd.to_datetime(first.loc[both]).to_numpy() == pd.to_datetime(signup.loc[both]).to_numpy()
    return {"tenure_days": "days_since_signup"} if bool(same.all()) else {}


def warn_if_dropped(dropped: dict[str, str], as_of) -> None:
    """Say which features were dropped as duplicates, so a reader never looks for them."""
    if dropped:
        pairs = ", ".join(f"{name} (= {kept})" for name, kept in dropped.items())
        warnings.warn(
            f"dropped features that repeat another one exactly in the history before {as_of}: "
            f"{pairs}",
            DataQualityWarning,
            stacklevel=3,
        )


def warn_if_no_history(events: ibis.Table, as_of) -> None:
    """An ``as_of`` before every event leaves the data-dependent choices empty."""
    if as_of is None:
        return
    stamp = events[TIMESTAMP]
    counts = fetch(
        ibis.get_backend(events),
        events.aggregate(n=stamp.count(), before=stamp.count(where=stamp < as_of)),
    )
    if counts["before"].iloc[0] == 0 and counts["n"].iloc[0] > 0:
        warnings.warn(
            f"the feature spec is resolved as of {as_of}, before any event: no event type "
            "enters activity's top-k, sessions come from gaps and there are no monetary "
            "features; list activity.event_types and sessions.source explicitly",
            DataQualityWarning,
            stacklevel=3,
        )


def freeze_event_choices(resolved: dict, history: ibis.Table, events: ibis.Table) -> None:
    """Event types, session source and monetary availability, decided once from the
    history (``events`` only confirms that an explicitly requested column exists)."""
    activity = resolved["activity"]
    if activity["event_types"] is None:
        activity["event_types"] = top_event_types(history, activity["top_k"])
    activity["event_types"] = [str(e) for e in activity["event_types"]]
    if resolved["sessions"]["enabled"]:
        resolved["sessions"]["source"] = session_source(
            resolved["sessions"]["source"], history, events
        )
    rfm = resolved["rfm"]
    rfm["purchase_events"] = rfm.get("purchase_events", resolved["purchase_events"])
    if rfm.get("monetary") is None:
        rfm["monetary"] = has_values(history, AMOUNT)
    resolved["timing"]["purchase_events"] = resolved["timing"].get(
        "purchase_events", resolved["purchase_events"]
    )
    freeze_disengagement(resolved, history, events)
    for family in ("activity", "trends", "funnel"):
        params = resolved[family]
        params["windows"] = sorted({int(w) for w in params.get("windows") or resolved["windows"]})


def freeze_disengagement(resolved: dict, history: ibis.Table, events: ibis.Table) -> None:
    """The disengagement family's purchase events, its checked half-lives and windows and,
    for its session rhythm and recency, the sessions family's session source and inactivity
    gap unless it names its own."""
    params = resolved["disengagement"]
    if not params["enabled"]:
        return
    params["purchase_events"] = params.get("purchase_events", resolved["purchase_events"])
    for key in ("half_lives", "session_windows"):
        params[key] = sorted({int(days) for days in params[key]})
        if params[key] and params[key][0] < 1:
            raise ConfigError(f"features.disengagement.{key} must be whole days >= 1")
    if params["gaps"] or params["sessions"]:
        sessions = resolved["sessions"]
        params["gap_minutes"] = params.get("gap_minutes", sessions["gap_minutes"])
        requested = params.get("session_source", sessions["source"])
        params["session_source"] = session_source(requested, history, events)


def freeze_clv(resolved: dict, value, history: ibis.Table) -> None:
    """The clv family's settings, when it is on: checked, with its horizon, purchase events
    and whether the history has amounts (Gamma-Gamma and the value need them)."""
    params = normalise_family(value, DEFAULTS["clv"])
    if params["enabled"]:
        if params.get("monetary") is None:
            params["monetary"] = has_values(history, AMOUNT)
        resolved["clv"] = clv_family.resolve(params, resolved["purchase_events"])


def family_enabled(spec: dict, family: str) -> bool:
    """Whether a resolved spec switches a family on (an optional one absent: off)."""
    return bool(spec.get(family, {}).get("enabled"))


def freeze_attributes(
    params: dict, customers: pd.DataFrame | None, history: ibis.Table | None
) -> None:
    """Attribute kinds and levels from the customer rows and events known at ``as_of``.

    ``table`` records how the customer table is timed (``as_of`` with ``valid_from``,
    else ``static``); ``from_events`` names event columns whose first value before each
    cutoff is an attribute. Nothing to describe switches the family off.
    """
    events_named = named_event_attributes(params)
    if not params["enabled"] or (customers is None and not events_named):
        params.update(enabled=False, columns=[], signup=False, table=None, from_events=[])
        return
    params["from_events"] = describe_event_attributes(history, events_named, params)
    if customers is None:
        params.update(columns=[], signup=False, table=None)
        return
    params["columns"] = describe_attributes(customers, params, skip=events_named)
    params["signup"] = SIGNUP_AT in customers.columns
    timing = "as_of" if VALID_FROM in customers.columns else "static"
    params["table"] = timing if params["columns"] or params["signup"] else None


def named_event_attributes(params: dict) -> list[str]:
    """The event columns an unresolved attributes family names, less the excluded ones
    (none when the family is off)."""
    if not params["enabled"]:
        return []
    return [n for n in params.get("from_events") or [] if n not in params["exclude"]]


def event_attribute_columns(spec: dict) -> list[str]:
    """The event columns a spec names as attributes (``attributes.from_events``), from a
    resolved spec (described columns) or not (names)."""
    attributes = spec.get("attributes")
    if not isinstance(attributes, dict):
        return []
    named = attributes.get("from_events") or []
    return [c["name"] if isinstance(c, dict) else str(c) for c in named]


def require_event_columns(events: Events, names: list[str]) -> None:
    """Every column named in ``attributes.from_events`` is in the event log."""
    missing = [name for name in names if name not in events.columns]
    if missing:
        raise DataValidationError(
            f"attributes.from_events: column '{missing[0]}' is not in the events; "
            f"available columns: {', '.join(map(str, events.columns))}"
        )


def describe_event_attributes(
    history: ibis.Table | None, names: list[str], params: dict
) -> list[dict]:
    """Kinds and levels of the ``from_events`` columns, from the history only: the kind
    from the column's engine type, a categorical's levels from its distinct values (one
    row per level comes back)."""
    if not names:
        return []
    if history is None:
        raise ConfigError("features.attributes.from_events needs an event log")
    require_event_columns(history, names)
    skip = {*TABLE_KEYS, *params.get("exclude", [])}
    schema = history.schema()
    described = []
    for name in (n for n in names if n not in skip):
        dtype = schema[name]
        if dtype.is_temporal():
            continue
        if dtype.is_numeric() or dtype.is_boolean():
            described.append({"name": name, "kind": "numeric"})
        else:
            described.append({"name": name, "kind": "categorical", "levels": levels(history, name)})
    return described


def levels(events: ibis.Table, name: str) -> list[str]:
    """The sorted distinct values of a column as text (missing ones left out)."""
    text = events.select(level=events[name].cast("string"))
    distinct = text.filter(text["level"].notnull()).distinct()
    return sorted({str(v) for v in fetch(ibis.get_backend(events), distinct)["level"]})


def attribute_timing(spec: dict) -> str | None:
    """How a resolved spec's attributes are timed: ``as_of`` or ``static`` (customer
    table), ``from_events`` (events before each cutoff), or None (no attributes)."""
    params = spec["attributes"]
    if not params["enabled"]:
        return None
    if params.get("columns") or params.get("signup"):
        return params.get("table") or "static"
    return "from_events" if params.get("from_events") else None


def check_unique(columns: list[str]) -> None:
    """Two settings producing the same column name would silently overwrite each other."""
    seen = pd.Series(columns)
    duplicated = sorted(set(seen[seen.duplicated()]))
    if duplicated:
        raise ConfigError(f"the feature spec produces duplicate columns: {duplicated}")


def require_resolved(spec: dict) -> None:
    """Builders only accept resolved specs: an unresolved one would drift between runs."""
    if not spec.get("resolved"):
        raise ConfigError("pass a spec from resolve_feature_spec (it freezes data choices)")


def feature_columns(spec: dict) -> list[str]:
    """All feature names of a resolved spec, in the builder's column order."""
    require_resolved(spec)
    dropped = spec.get("dropped") or {}
    return [
        name
        for family, module in MODULES.items()
        if family_enabled(spec, family)
        for name in module.columns(spec[family])
        if name not in dropped
    ]


def feature_descriptions(spec: dict) -> dict[str, dict]:
    """Every feature of a resolved spec with what it means to a person: its description,
    unit, the phrase for a missing value and whether it grows with the calendar alone."""
    described = {
        name: entry
        for family, module in MODULES.items()
        if family_enabled(spec, family)
        for name, entry in module.descriptions(spec[family]).items()
    }
    return {name: described[name] for name in feature_columns(spec)}


def calendar_features(spec: dict) -> list[str]:
    """Features that grow with the calendar alone (tenure, days since signup): they differ
    between training and scoring by construction, so drift is not measured on them."""
    return [name for name, entry in feature_descriptions(spec).items() if entry["calendar"]]


def feature_dtypes(spec: dict) -> dict[str, object]:
    """float64 for every feature except categorical attributes (category with frozen levels)."""
    attributes = spec["attributes"]
    described = [*attributes.get("columns", []), *(attributes.get("from_events") or [])]
    categorical = {
        c["name"]: pd.CategoricalDtype(c["levels"])
        for c in described
        if attributes["enabled"] and c["kind"] == "categorical"
    }
    return {name: categorical.get(name, "float64") for name in feature_columns(spec)}


def categorical_features(spec: dict) -> list[str]:
    """Names of the features a model should treat as categorical."""
    return [n for n, d in feature_dtypes(spec).items() if isinstance(d, pd.CategoricalDtype)]
