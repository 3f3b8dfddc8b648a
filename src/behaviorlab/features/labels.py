"""Labels from events in ``[cutoff, cutoff + horizon)``; ineligible or censored rows dropped.

``data_end`` is the last observed day (the loaders report the last event's timestamp; any
time on that day means the day is covered). A snapshot whose horizon runs past the end of
that day is censored: its outcome is unknown, so it is not labelled rather than labelled 0.
"""

import ibis
import pandas as pd

from behaviorlab.data.contract import CUSTOMER_ID, CUTOFF, EVENT, LABEL, TIMESTAMP
from behaviorlab.errors import ConfigError, DataValidationError
from behaviorlab.features.engine import (
    SID,
    Events,
    as_event_table,
    fetch_by_snapshot,
    fetch_value,
    join_window,
    snapshot_table,
)
from behaviorlab.features.snapshots import sort_snapshots

EVENT_TASKS = ("churn", "conversion", "repurchase")


def default_data_end(events: Events) -> pd.Timestamp:
    """The last event's timestamp, as the data loaders report it."""
    table = as_event_table(events)
    return pd.Timestamp(fetch_value(table, table[TIMESTAMP].max()))


def observed_until(data_end) -> pd.Timestamp:
    """Exclusive end of the observation: midnight after the last observed day."""
    return pd.Timestamp(data_end).normalize() + pd.Timedelta(days=1)


def drop_censored(snapshots: pd.DataFrame, horizon_days: int, data_end) -> pd.DataFrame:
    """Keep snapshots whose whole horizon lies inside the observed days."""
    horizon_end = snapshots[CUTOFF] + pd.Timedelta(days=int(horizon_days))
    return snapshots.loc[horizon_end <= observed_until(data_end)]


def is_any(events: ibis.Table, names: list[str] | None) -> ibis.Value:
    """Event membership; ``None`` means any event qualifies."""
    return ibis.literal(True) if names is None else events[EVENT].isin(list(names))


def outcome_counts(joined: ibis.Table, task: dict) -> dict[str, ibis.Value]:
    """Per-snapshot counts before the cutoff (eligibility) and in the horizon (outcome)."""
    before = joined[TIMESTAMP] < joined[CUTOFF]
    inside = ~before
    kind = task["kind"]
    if kind == "churn":
        qualifying = is_any(joined, task.get("qualifying_events"))
        return {
            "n_before": (qualifying & before).sum(),
            "n_inside": (qualifying & inside).sum(),
            "n_churn": (is_any(joined, task.get("churn_events") or []) & inside).sum(),
        }
    if kind == "conversion":
        converted = is_any(joined, task["conversion_events"])
        return {"n_before": (converted & before).sum(), "n_inside": (converted & inside).sum()}
    purchased = is_any(joined, task["purchase_events"])
    return {"n_before": (purchased & before).sum(), "n_inside": (purchased & inside).sum()}


def is_eligible(counts: pd.DataFrame, task: dict) -> pd.Series:
    """Who the task applies to at the cutoff, from events before it only."""
    kind = task["kind"]
    if kind == "churn":
        return counts["n_before"] > 0
    if kind == "conversion":
        return counts["n_before"] == 0
    if task.get("require_prior_purchase", True):
        return counts["n_before"] > 0
    return pd.Series(True, index=counts.index)


def decide_labels(counts: pd.DataFrame, task: dict) -> pd.Series:
    """The 0/1 outcome in the horizon (vectorised, one rule per task kind)."""
    if task["kind"] == "churn":
        churned = (counts["n_inside"] == 0) | (counts["n_churn"] > 0)
        return churned.astype("int64")
    return (counts["n_inside"] > 0).astype("int64")


def lookback_days(task: dict) -> int | None:
    """How far before the cutoff eligibility looks; None means the whole history."""
    return int(task["lookback_days"]) if task["kind"] == "churn" else None


def count_outcomes(
    events: Events, snapshots: pd.DataFrame, task: dict, horizon_days: int
) -> pd.DataFrame:
    """One row per snapshot, in snapshot order, with its event counts before the cutoff
    and in the horizon (integers; 0 without events). The counts run on the events' backend
    and come back keyed by snapshot id."""
    if task.get("kind") not in EVENT_TASKS:
        raise ConfigError(f"task.kind must be one of {EVENT_TASKS}, got {task.get('kind')!r}")
    events = as_event_table(events)
    joined = join_window(events, snapshot_table(snapshots), lookback_days(task), horizon_days)
    counts = joined.group_by(SID).aggregate(**outcome_counts(joined, task))
    fetched = fetch_by_snapshot(ibis.get_backend(events), counts, len(snapshots))
    keys = snapshots[[CUSTOMER_ID, CUTOFF]].reset_index(drop=True)
    return pd.concat([keys, fetched.fillna(0).astype("int64").reset_index(drop=True)], axis=1)


def eligible_snapshots(events: Events, snapshots: pd.DataFrame, task: dict) -> pd.DataFrame:
    """The snapshots a task would score at their cutoffs (no outcome needed, none censored)."""
    counts = count_outcomes(events, snapshots, task, horizon_days=0)
    return sort_snapshots(counts.loc[is_eligible(counts, task), [CUSTOMER_ID, CUTOFF]])


def label_snapshots(events: Events, snapshots: pd.DataFrame, task: dict, data_end) -> pd.DataFrame:
    """``customer_id, cutoff, label`` for the eligible, uncensored snapshots of a task."""
    kept = drop_censored(snapshots, task["horizon_days"], data_end)
    counts = count_outcomes(events, kept, task, task["horizon_days"])
    eligible = is_eligible(counts, task)
    labelled = counts.loc[eligible, [CUSTOMER_ID, CUTOFF]].assign(
        **{LABEL: decide_labels(counts, task)[eligible]}
    )
    return sort_snapshots(labelled)


def label_from_attributes(customers: pd.DataFrame, task: dict) -> pd.DataFrame:
    """Attribute-only tasks: the label is a column of the customer table; one constant cutoff."""
    column = task["label_column"]
    if customers is None or column not in customers.columns:
        raise DataValidationError(f"the customer table has no label column `{column}`")
    known = customers.loc[customers[column].notna()]
    cutoff = task.get("snapshots", {}).get("cutoff")
    return pd.DataFrame(
        {
            CUSTOMER_ID: known[CUSTOMER_ID].astype("str").to_numpy(),
            CUTOFF: pd.Series(pd.Timestamp(cutoff) if cutoff else pd.NaT, index=known.index)
            .astype("datetime64[us]")
            .to_numpy(),
            LABEL: (known[column] == task["positive_value"]).astype("int64").to_numpy(),
        }
    )
