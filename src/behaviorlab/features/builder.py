"""The training table: snapshots, labels and features for one task, cached as Parquet.

``build_features`` is the only place that runs the feature families; training and
scoring both call it with a resolved spec, so they produce the same columns and dtypes.
The training table resolves its spec as of its earliest cutoff: no cutoff's features,
names included, depend on events at or after it.
"""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ibis
import pandas as pd

from behaviorlab.data.contract import (
    AMOUNT,
    CUSTOMER_ID,
    CUTOFF,
    LABEL,
    SESSION_ID,
    SIGNUP_AT,
    SNAPSHOT_KEYS,
    TIMESTAMP_DTYPE,
    VALID_FROM,
    VALID_TO,
)
from behaviorlab.errors import ConfigError, DataValidationError
from behaviorlab.features import cache
from behaviorlab.features.engine import (
    SID,
    Events,
    as_event_table,
    event_gaps,
    fetch,
    fetch_by_snapshot,
    join_before_cutoff,
    materialised,
    snapshot_table,
)
from behaviorlab.features.families import EVENT_FAMILY_MODULES, attributes, clv
from behaviorlab.features.families.common import Sources, summarise_by_type
from behaviorlab.features.labels import default_data_end, label_from_attributes, label_snapshots
from behaviorlab.features.snapshots import make_snapshots, sort_snapshots
from behaviorlab.features.spec import (
    as_timestamp,
    attribute_timing,
    categorical_features,
    event_attribute_columns,
    family_enabled,
    feature_columns,
    feature_dtypes,
    require_resolved,
    resolve_feature_spec,
)


@dataclass(frozen=True)
class TrainingTable:
    """A built (or cached) training table and the resolved spec that produced it."""

    frame: pd.DataFrame
    resolved_features: dict
    feature_names: list[str]
    categorical_features: list[str]
    from_cache: bool
    path: Path | None

    @property
    def attribute_timing(self) -> str | None:
        """``as_of``, ``from_events``, ``static`` (assumed constant) or None."""
        return attribute_timing(self.resolved_features)

    def timing_tags(self) -> dict[str, str]:
        """Run tags saying how attributes were timed, with a warning for static ones."""
        timing = self.attribute_timing
        tags = {
            "attribute_timing": str(timing),
            "features_as_of": str(self.resolved_features["as_of"]),
        }
        if timing == "static":
            tags["warning.static_attributes"] = STATIC_WARNING
        dropped = self.resolved_features.get("dropped")
        if dropped:
            tags["features_dropped_duplicates"] = ", ".join(f"{k}={v}" for k, v in dropped.items())
        return tags


STATIC_WARNING = (
    "customer attributes come from a static table and are assumed constant over time; "
    "name customers.valid_from (and valid_to) for an as-of join"
)


def window_edges(spec: dict) -> list[int]:
    """Every window length an enabled family reads from the per-type summary."""
    return sorted(
        {
            int(days)
            for name in enabled_event_families(spec)
            for days in EVENT_FAMILY_MODULES[name].window_days(spec[name])
        }
    )


@contextlib.contextmanager
def materialise_sources(pit: ibis.Table, spec: dict) -> Iterator[Sources]:
    """The joined events, their per-type summary and (when needed) event gaps, each
    computed once (see ``engine.materialised``) for every family query, dropped after."""
    with contextlib.ExitStack() as stack:
        pit = stack.enter_context(materialised(pit))
        typed = stack.enter_context(materialised(summarise_by_type(pit, window_edges(spec))))
        gaps = stack.enter_context(materialised(event_gaps(pit))) if needs_gaps(spec) else None
        yield Sources(pit, typed, gaps)


def event_feature_tables(src: Sources, spec: dict) -> list[ibis.Table]:
    """Every enabled event family's aggregates, keyed by snapshot id."""
    return [
        table
        for name in enabled_event_families(spec)
        for table in EVENT_FAMILY_MODULES[name].tables(src, spec[name])
    ]


def enabled_event_families(spec: dict) -> list[str]:
    """Names of the event families the spec switches on (one a spec predates: off)."""
    return [name for name in EVENT_FAMILY_MODULES if family_enabled(spec, name)]


def zero_filled_columns(spec: dict) -> set[str]:
    """Columns that are 0, not missing, for a snapshot without matching events."""
    return {
        c
        for name in enabled_event_families(spec)
        for c in EVENT_FAMILY_MODULES[name].zero_filled(spec[name])
    }


def extra_columns(spec: dict) -> tuple[str, ...]:
    """Optional event columns some enabled family reads."""
    monetary = spec["rfm"]["enabled"] and spec["rfm"].get("monetary")
    monetary = monetary or (family_enabled(spec, "clv") and spec["clv"]["monetary"])
    by_id = spec["sessions"]["enabled"] and spec["sessions"]["source"] == "session_id"
    by_id = by_id or uses_session_ids(spec)
    return (*((AMOUNT,) if monetary else ()), *((SESSION_ID,) if by_id else ()))


def uses_session_ids(spec: dict) -> bool:
    """The disengagement family's session rhythm or recency reads given session ids."""
    return disengagement_session_source(spec) == "session_id"


def needs_gaps(spec: dict) -> bool:
    """Timing always reads event gaps; sessions, and disengagement's session parts, only
    when sessions are inferred from them."""
    sessions = spec["sessions"]
    inferred = sessions["enabled"] and sessions["source"] == "gap"
    return spec["timing"]["enabled"] or inferred or disengagement_session_source(spec) == "gap"


def disengagement_session_source(spec: dict) -> str | None:
    """Where the disengagement family's session rhythm or recency finds sessions (given
    ids or gaps); None when the family reads no sessions."""
    params = spec.get("disengagement", {})
    if not (family_enabled(spec, "disengagement") and (params["gaps"] or params["sessions"])):
        return None
    if "session_source" not in params:
        raise ConfigError(
            "features.disengagement.gaps: this feature spec predates the session rhythm (its "
            "gaps were between single events, columns gap_median_days, gap_last_days, "
            "gap_current_ratio), which this version no longer builds; retrain the model"
        )
    return params["session_source"]


@contextlib.contextmanager
def event_family_tables(events: ibis.Table, snaps: ibis.Table, spec: dict) -> Iterator[list]:
    """Every enabled event family's table keyed by snapshot id, for use inside the block:
    the point-in-time join and what is derived from it are materialised once for them."""
    extra = extra_columns(spec)
    missing = [c for c in extra if c not in events.columns]
    if missing:
        raise DataValidationError(f"the feature spec needs event columns {missing}")
    pit = join_before_cutoff(events, snaps, extra)
    with materialise_sources(pit, spec) as src:
        yield event_feature_tables(src, spec)


def compute_event_features(events: Events, snapshots: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """One engine pass per family table on the events' backend; results aligned on the
    snapshot id (row ``sid`` of ``snapshots``).

    Snapshots without matching events get 0 for counts and stay missing otherwise (see
    each family's ``zero_filled``).
    """
    events = as_event_table(events)
    con = ibis.get_backend(events)
    with event_family_tables(events, snapshot_table(snapshots), spec) as tables:
        parts = [fetch_by_snapshot(con, t, len(snapshots)) for t in tables]
    frame = pd.concat(parts, axis=1).fillna(dict.fromkeys(zero_filled_columns(spec), 0))
    return frame.reset_index(drop=True)


def clv_summaries(events: ibis.Table, keys: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """The purchase summary of each (customer, cutoff) in ``keys`` (``clv.summary_table``),
    beside the keys, in their order: one engine query, one small row per key back."""
    table = clv.summary_table(events, snapshot_table(keys), spec["clv"])
    summary = fetch_by_snapshot(ibis.get_backend(events), table, len(keys))
    return clv.with_keys(summary, keys)


def clv_buyer_summaries(events: ibis.Table, cutoffs, spec: dict) -> pd.DataFrame:
    """The summaries of every customer of the events who bought before each cutoff: what
    that cutoff's models are fitted on."""
    first = fetch(ibis.get_backend(events), clv.first_purchases(events, spec["clv"]))
    return clv_summaries(events, clv.buyers_before(first, cutoffs), spec)


def fit_clv_models(events: Events, cutoffs, spec: dict) -> dict:
    """The clv family's models at each cutoff, fitted on the whole event log (they depend
    on the events and the cutoff only): a caller building features in parts of the
    customers fits once here and passes the result to each part's
    ``build_features(..., clv_models=)``, so no part changes a fit."""
    require_resolved(spec)
    events = as_event_table(events)
    return clv.fit_models(clv_buyer_summaries(events, cutoffs, spec), cutoffs, spec["clv"])


def compute_clv_features(
    events: Events, snapshots: pd.DataFrame, spec: dict, models: dict | None
) -> pd.DataFrame:
    """The clv family's columns aligned on the snapshots: the models fitted per cutoff on
    every buyer of ``events`` unless ``models`` (from ``fit_clv_models``) are given."""
    events = as_event_table(events)
    params = spec["clv"]
    if models is None:
        summaries = clv_buyer_summaries(events, snapshots[CUTOFF], spec)
        models = clv.fit_models(summaries, snapshots[CUTOFF], params)
        keys = snapshots[list(SNAPSHOT_KEYS)].reset_index(drop=True)
        rows = keys.merge(summaries, on=list(SNAPSHOT_KEYS), how="left", validate="one_to_one")
    else:
        rows = clv_summaries(events, snapshots, spec)
    return clv.score(rows, models, params).reset_index(drop=True)


def build_features(
    events: Events | None,
    customers: pd.DataFrame | None,
    snapshots: pd.DataFrame,
    spec: dict,
    clv_models: dict | None = None,
) -> pd.DataFrame:
    """``customer_id, cutoff, <features>`` for each snapshot, from a resolved spec.

    ``events`` is a pandas frame or an Ibis table; the queries run on its backend. The clv
    family fits its models on each cutoff's snapshots here, so ``snapshots`` must hold all
    of a cutoff's, unless ``clv_models`` fitted on all of them are given.
    """
    require_resolved(spec)
    keys = sort_snapshots(snapshots[list(SNAPSHOT_KEYS)])
    if events is not None:
        events = as_event_table(events, event_attribute_columns(spec))
    parts = [keys]
    if enabled_event_families(spec):
        if events is None:
            raise ConfigError("the feature spec has event families on but there are no events")
        parts.append(compute_event_features(events, keys, spec))
    if family_enabled(spec, "clv"):
        if events is None:
            raise ConfigError("the feature spec has the clv family on but there are no events")
        parts.append(compute_clv_features(events, keys, spec, clv_models))
    if spec["attributes"]["enabled"]:
        parts.append(attributes.compute(customers, events, keys, spec["attributes"]))
    frame = pd.concat(parts, axis=1)
    return frame[[*SNAPSHOT_KEYS, *feature_columns(spec)]].astype(feature_dtypes(spec))


@contextlib.contextmanager
def lazy_features(
    events: ibis.Table, customers: pd.DataFrame | None, snapshots: pd.DataFrame, spec: dict
) -> Iterator[ibis.Table]:
    """The rows of ``build_features`` as one table on the events' backend, never fetched:
    for data too large for the driver (Spark). Valid inside the block only (it reads what
    the block materialised). Columns are the keys and the features as the engine computes
    them (plus ``signup_at`` when days since signup is a feature); ``finish_features``
    turns any chunk of its rows into exactly what ``build_features`` returns for them.

    The clv family is refused: its models are fitted in numpy on the driver per cutoff,
    which a lazy table split into chunks cannot do.
    """
    require_resolved(spec)
    if family_enabled(spec, "clv"):
        raise ConfigError(
            "features.clv is fitted per cutoff on the driver and cannot be built as a lazy "
            "table (Spark scoring); score this model with engine=duckdb or switch clv off"
        )
    events = as_event_table(events, event_attribute_columns(spec))
    snaps = snapshot_table(sort_snapshots(snapshots[list(SNAPSHOT_KEYS)]))
    with contextlib.ExitStack() as stack:
        parts = []
        if enabled_event_families(spec):
            parts += stack.enter_context(event_family_tables(events, snaps, spec))
        attrs = spec["attributes"]
        if attrs["enabled"] and (attrs["columns"] or attrs.get("signup")):
            parts.append(attributes.table_values(customers, snaps, attrs))
        if attrs["enabled"] and attrs.get("from_events"):
            parts += attributes.event_values(events, snaps, attrs["from_events"])
        table = snaps
        for part in parts:
            table = table.left_join(part, SID).select(*table.columns, *part.drop(SID).columns)
        yield table.drop(SID)


def finish_features(frame: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """Rows of ``lazy_features`` as ``build_features`` returns them: 0 for the counts of a
    snapshot without events, frozen attribute levels, days since signup, the same dtypes."""
    attrs = spec["attributes"]
    zeros = dict.fromkeys(zero_filled_columns(spec), 0)
    out = frame.fillna(zeros).astype({CUSTOMER_ID: "str", CUTOFF: TIMESTAMP_DTYPE})
    if attrs["enabled"]:
        for column in [*attrs["columns"], *(attrs.get("from_events") or [])]:
            out[column["name"]] = attributes.restrict_levels(out[column["name"]], column)
        if attrs.get("signup"):
            elapsed = out[CUTOFF] - out[SIGNUP_AT].astype(TIMESTAMP_DTYPE)
            out["days_since_signup"] = elapsed / pd.Timedelta(days=1)
    return out[[*SNAPSHOT_KEYS, *feature_columns(spec)]].astype(feature_dtypes(spec))


def label_table(
    events: Events | None, customers: pd.DataFrame | None, task: dict, data_end
) -> pd.DataFrame:
    """Labelled snapshots for any task kind, attribute-only tasks included."""
    if task.get("kind") == "attributes":
        return label_from_attributes(rows_at_task_cutoff(customers, task), task)
    if events is None:
        raise ConfigError(f"task {task.get('name')!r} needs an event log")
    snapshots = make_snapshots(events, customers, task.get("snapshots", {}))
    return label_snapshots(events, snapshots, task, data_end)


def rows_at_task_cutoff(customers: pd.DataFrame | None, task: dict) -> pd.DataFrame | None:
    """Attribute-only tasks read the rows valid at their one cutoff from a timed table."""
    if customers is None or VALID_FROM not in customers.columns:
        return customers
    cutoff = as_timestamp(task.get("snapshots", {}).get("cutoff"))
    if cutoff is None:
        raise ConfigError(
            "a customer table with valid_from needs a cutoff: set task.snapshots.cutoff"
        )
    started = customers[VALID_FROM] <= cutoff
    if VALID_TO in customers.columns:
        return customers.loc[started & ~(customers[VALID_TO] <= cutoff)]
    return customers.loc[started].sort_values(VALID_FROM).drop_duplicates(CUSTOMER_ID, keep="last")


def without_label_column(features: dict, task: dict) -> dict:
    """The task's label column must never become an attribute feature."""
    label_column = task.get("label_column")
    if not label_column:
        return features
    attrs = features.get("attributes", True)
    attrs = {} if attrs is True else ({"enabled": False} if attrs is False else dict(attrs))
    attrs["exclude"] = [*attrs.get("exclude", []), label_column]
    return {**features, "attributes": attrs}


def with_task_horizon(features: dict, task: dict) -> dict:
    """The clv family predicts purchases over the task's horizon unless it sets its own."""
    value = features.get("clv")
    if not value or task.get("horizon_days") is None:
        return features
    params = {} if value is True else dict(value)
    if params.get("enabled", True) and params.get("horizon_days") is None:
        params["horizon_days"] = task["horizon_days"]
    return {**features, "clv": params}


def trainability_problem(table: pd.DataFrame) -> str | None:
    """Why no model can learn from this table, or None when one can."""
    if table.empty:
        return (
            "the training table has no rows: check the snapshots (cutoffs, horizon) against "
            "the data's time range"
        )
    if table[LABEL].nunique() < 2:
        return f"every training row has label {table[LABEL].iloc[0]}; a model needs both classes"
    if table[CUSTOMER_ID].nunique() < 2:
        return (
            f"the training table holds one customer ({table[CUSTOMER_ID].iloc[0]}); splits "
            "are grouped by customer, so a model needs several"
        )
    return None


def check_trainable(table: pd.DataFrame) -> None:
    """Refuse, with the reason, a table no model can learn from (the train app calls this
    before a tracking run opens, so such a job leaves no run behind)."""
    problem = trainability_problem(table)
    if problem:
        raise DataValidationError(problem)


def spec_as_of(labels: pd.DataFrame, features: dict) -> pd.Timestamp | None:
    """The earliest cutoff of the table, or an explicit earlier ``features.as_of``.

    None only when there is no cutoff at all (attribute-only tasks without a date).
    """
    if labels.empty:
        raise DataValidationError(trainability_problem(labels))
    earliest = as_timestamp(labels[CUTOFF].min())
    explicit = as_timestamp(features.get("as_of"))
    if explicit is None:
        return earliest
    if earliest is not None and explicit > earliest:
        raise ConfigError(
            f"features.as_of {explicit} is after the earliest cutoff {earliest}: that "
            "cutoff's features would depend on events after it; use an earlier date"
        )
    return explicit


def build_training_table(
    events: Events | None,
    customers: pd.DataFrame | None,
    task: dict,
    features: dict,
    data_end=None,
    cache_dir=None,
    fingerprint: str | None = None,
) -> TrainingTable:
    """``customer_id, cutoff, label, <features>``; read from the cache when inputs match.

    ``events`` is a pandas frame (handed to one private DuckDB connection for the whole
    build) or an Ibis table, whose backend runs every query. A cached build of an Ibis
    table needs ``fingerprint``: the table's content is not hashed here.

    Only a table a model can learn from is cached: a failed job leaves no cache entry.

    The labelled snapshots come first: the spec is resolved as of their earliest cutoff.
    """
    spec = with_task_horizon(without_label_column(features, task), task)
    data_key = None
    if cache_dir is not None:
        data_key = fingerprint or "|".join(map(cache.fingerprint_frame, (events, customers)))
    if events is not None:
        events = as_event_table(events, event_attribute_columns(spec))
    if data_end is None and events is not None:
        data_end = default_data_end(events)
    labels = label_table(events, customers, task, data_end)
    resolved = resolve_feature_spec(spec, events, customers, as_of=spec_as_of(labels, spec))
    names = feature_columns(resolved)
    dtypes = {LABEL: "int64", **feature_dtypes(resolved)}
    path = None
    if data_key is not None:
        key = cache.cache_key(
            {"data": data_key, "task": task, "features": resolved, "data_end": data_end}
        )
        path = cache.cache_path(cache_dir, key)
        if path.exists():
            frame = cache.read_cached(path, dtypes)
            return TrainingTable(frame, resolved, names, categorical_features(resolved), True, path)
    built = build_features(events, customers, labels, resolved)
    frame = labels.merge(built, on=[CUSTOMER_ID, CUTOFF], how="left", validate="one_to_one")
    frame = frame[[CUSTOMER_ID, CUTOFF, LABEL, *names]].astype(dtypes)
    if path is not None and trainability_problem(frame) is None:
        cache.write_cached(frame, path)
    return TrainingTable(frame, resolved, names, categorical_features(resolved), False, path)
