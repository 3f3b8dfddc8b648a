"""Feature specifications: defaults, resolution against data, and the columns they produce.

``resolve_feature_spec`` freezes every choice that depends on the data (which event types,
which session source, which attribute levels). A model carries the resolved spec, and
scoring rebuilds exactly the same columns, in the same order, with the same dtypes.
"""

import copy

import pandas as pd

from behaviorlab.data.contract import AMOUNT, CUSTOMER_ID, EVENT, SESSION_ID, SIGNUP_AT
from behaviorlab.errors import ConfigError
from behaviorlab.features.families import FAMILY_MODULES

FAMILIES = ("rfm", "activity", "trends", "timing", "sessions", "diversity", "funnel", "attributes")
EVENT_FAMILIES = FAMILIES[:-1]

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
    "attributes": {"enabled": True, "columns": None, "exclude": []},
}


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


def top_event_types(events: pd.DataFrame, top_k: int) -> list[str]:
    """The K most frequent event types (ties broken by name, so the choice is stable)."""
    counts = events[EVENT].value_counts(sort=False).rename("n").reset_index()
    ranked = counts.sort_values(["n", EVENT], ascending=[False, True], kind="stable")
    return [str(name) for name in ranked[EVENT].head(int(top_k))]


def session_source(requested: str, events: pd.DataFrame) -> str:
    """``session_id`` when asked for (or available under ``auto``), else the inactivity gap."""
    has_ids = SESSION_ID in events.columns and bool(events[SESSION_ID].notna().any())
    if requested == "auto":
        return "session_id" if has_ids else "gap"
    if requested == "session_id" and not has_ids:
        raise ConfigError("features.sessions.source is session_id but the events have none")
    if requested not in ("session_id", "gap"):
        raise ConfigError(f"features.sessions.source must be auto, session_id or gap: {requested}")
    return requested


def describe_attributes(customers: pd.DataFrame, params: dict) -> list[dict]:
    """Each attribute column with its kind and, for categoricals, the frozen sorted levels."""
    skip = {CUSTOMER_ID, SIGNUP_AT, *params.get("exclude", [])}
    names = params.get("columns") or [c for c in customers.columns if c not in skip]
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


def resolve_feature_spec(
    spec: dict, events: pd.DataFrame | None, customers: pd.DataFrame | None
) -> dict:
    """Freeze every data-dependent choice; a resolved spec resolves to itself."""
    if spec.get("resolved"):
        return copy.deepcopy(spec)
    resolved = {
        "resolved": True,
        "windows": sorted({int(w) for w in spec.get("windows", DEFAULTS["windows"])}),
        "purchase_events": list(spec.get("purchase_events", DEFAULTS["purchase_events"])),
    }
    for family in FAMILIES:
        resolved[family] = normalise_family(spec.get(family), DEFAULTS[family])
    if events is None:
        for family in EVENT_FAMILIES:
            resolved[family]["enabled"] = False
    else:
        freeze_event_choices(resolved, events)
    freeze_attributes(resolved["attributes"], customers)
    check_unique(feature_columns(resolved))
    return resolved


def freeze_event_choices(resolved: dict, events: pd.DataFrame) -> None:
    """Event types, session source and monetary availability, decided once from the data."""
    activity = resolved["activity"]
    if activity["event_types"] is None:
        activity["event_types"] = top_event_types(events, activity["top_k"])
    activity["event_types"] = [str(e) for e in activity["event_types"]]
    if resolved["sessions"]["enabled"]:
        resolved["sessions"]["source"] = session_source(resolved["sessions"]["source"], events)
    rfm = resolved["rfm"]
    rfm["purchase_events"] = rfm.get("purchase_events", resolved["purchase_events"])
    rfm["monetary"] = AMOUNT in events.columns and bool(events[AMOUNT].notna().any())
    resolved["timing"]["purchase_events"] = resolved["timing"].get(
        "purchase_events", resolved["purchase_events"]
    )
    for family in ("activity", "trends", "funnel"):
        params = resolved[family]
        params["windows"] = sorted({int(w) for w in params.get("windows") or resolved["windows"]})


def freeze_attributes(params: dict, customers: pd.DataFrame | None) -> None:
    """Attribute kinds and levels; no customer table switches the family off."""
    if customers is None or not params["enabled"]:
        params.update(enabled=False, columns=[], signup=False)
        return
    params["columns"] = describe_attributes(customers, params)
    params["signup"] = SIGNUP_AT in customers.columns


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
    return [
        name
        for family in FAMILIES
        if spec[family]["enabled"]
        for name in FAMILY_MODULES[family].columns(spec[family])
    ]


def feature_dtypes(spec: dict) -> dict[str, object]:
    """float64 for every feature except categorical attributes (category with frozen levels)."""
    categorical = {
        c["name"]: pd.CategoricalDtype(c["levels"])
        for c in spec["attributes"].get("columns", [])
        if spec["attributes"]["enabled"] and c["kind"] == "categorical"
    }
    return {name: categorical.get(name, "float64") for name in feature_columns(spec)}


def categorical_features(spec: dict) -> list[str]:
    """Names of the features a model should treat as categorical."""
    return [n for n, d in feature_dtypes(spec).items() if isinstance(d, pd.CategoricalDtype)]
