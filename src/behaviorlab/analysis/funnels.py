"""Funnels: ordered steps within a conversion window, per step and per group, and who drops.

Each unit (a user, or a session) starts its funnel at its first step-1 event. In strict
order, step k is the earliest step-k event at or after step k-1 (strictly after when both
steps are the same event) and within the window from the start; other events may occur in
between. In any order, step k is reached when steps 1..k all occur within the window from
the start, and is reached at the latest of their times.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from behaviorlab.analysis.engine import Table, has_column, query
from behaviorlab.data.contract import CUSTOMER_ID, EVENT, SESSION_ID, TIMESTAMP
from behaviorlab.errors import ConfigError, DataValidationError

ORDERINGS = ("strict", "any")
UNITS = ("user", "session")


@dataclass(frozen=True)
class Step:
    """One funnel step: an event name, optionally restricted to property values."""

    name: str
    event: str
    where: Mapping[str, Any] = field(default_factory=dict)

    def condition(self, number: int, columns: Sequence[str]) -> tuple[str, dict[str, Any]]:
        """SQL condition for the events that count as step ``number``, with its parameters."""
        params: dict[str, Any] = {f"step_{number}": self.event}
        parts = [f"{EVENT} = $step_{number}"]
        for i, (column, allowed) in enumerate(self.where.items()):
            if column not in columns:
                raise DataValidationError(
                    f"funnel step '{self.name}' filters on missing column '{column}'"
                )
            values = allowed if isinstance(allowed, list | tuple) else [allowed]
            names = [f"step_{number}_{i}_{j}" for j in range(len(values))]
            params.update(zip(names, values, strict=True))
            listed = ", ".join(f"${name}" for name in names)
            parts.append(f"{quote(column)} in ({listed})" if names else "false")
        return " and ".join(parts), params


def quote(column: str) -> str:
    """A column name as a SQL identifier."""
    return '"' + str(column).replace('"', '""') + '"'


def parse_steps(steps: Sequence[str | Mapping[str, Any]]) -> list[Step]:
    """Steps from config: an event name, or {event, name?, where?}; names made unique."""
    if len(steps) < 2:
        raise ConfigError("a funnel needs at least two steps")
    parsed = [
        Step(name=step, event=step)
        if isinstance(step, str)
        else Step(
            name=step.get("name") or step["event"],
            event=step["event"],
            where=dict(step.get("where") or {}),
        )
        for step in steps
    ]
    names = [step.name for step in parsed]
    return [
        Step(f"{step.name} #{names[: i + 1].count(step.name)}", step.event, step.where)
        if names.count(step.name) > 1
        else step
        for i, step in enumerate(parsed)
    ]


def trace_journeys(
    events: Table,
    steps: Sequence[Step],
    window: pd.Timedelta | None = None,
    ordering: str = "strict",
    unit: str = "user",
) -> pd.DataFrame:
    """One row per unit that entered step 1: its customer, steps reached, time of each step.

    Columns: ``unit_id``, ``customer_id``, ``steps_reached`` (1..n) and ``at_1``..``at_n``
    (missing for steps not reached).
    """
    if ordering not in ORDERINGS:
        raise ConfigError(f"funnel ordering must be one of {ORDERINGS}, got '{ordering}'")
    if unit not in UNITS:
        raise ConfigError(f"funnel unit must be one of {UNITS}, got '{unit}'")
    if unit == "session" and not has_column(events, SESSION_ID):
        raise DataValidationError("a funnel over sessions needs a session_id column")
    unit_column = CUSTOMER_ID if unit == "user" else SESSION_ID
    conditions, params = [], {}
    for number, step in enumerate(steps, start=1):
        condition, values = step.condition(number, list(events.columns))
        conditions.append(condition)
        params.update(values)
    sql = _journey_sql(steps, conditions, unit_column, window, ordering)
    journeys = query(sql, params, events=events)
    return _count_reached(journeys, len(steps), ordering)


def _journey_sql(
    steps: Sequence[Step],
    conditions: Sequence[str],
    unit_column: str,
    window: pd.Timedelta | None,
    ordering: str,
) -> str:
    """Each step's CTE reads its own events, so no event-level table is materialised."""
    within = (
        ""
        if window is None
        else f"and s.ts <= p0.at_1 + to_microseconds({int(window / pd.Timedelta(1, 'us'))}::bigint)"
    )
    ctes = [
        f"""e1 as (select {unit_column} as unit_id, min({CUSTOMER_ID}) as {CUSTOMER_ID},
                         min({TIMESTAMP}) as at_1
                  from events where {conditions[0]} group by 1)"""
    ]
    for k in range(2, len(steps) + 1):
        previous = "e1" if ordering == "any" else f"e{k - 1}"
        same = steps[k - 1].event == steps[k - 2].event and steps[k - 1].where == steps[k - 2].where
        after = (
            "s.ts >= p0.at_1" if ordering == "any" else f"s.ts {'>' if same else '>='} p.at_{k - 1}"
        )
        ctes.append(
            f"""e{k} as (
                select p.unit_id, min(s.ts) as at_{k}
                from {previous} p
                join e1 p0 on p0.unit_id = p.unit_id
                join (select {unit_column} as unit_id, {TIMESTAMP} as ts
                      from events where {conditions[k - 1]}) s on s.unit_id = p.unit_id
                where {after} {within}
                group by p.unit_id)"""
        )
    joins = " ".join(f"left join e{k} using (unit_id)" for k in range(2, len(steps) + 1))
    columns = ", ".join(f"at_{k}" for k in range(1, len(steps) + 1))
    return f"with {', '.join(ctes)} select unit_id, {CUSTOMER_ID}, {columns} from e1 {joins}"


def _count_reached(journeys: pd.DataFrame, n_steps: int, ordering: str) -> pd.DataFrame:
    times = [f"at_{k}" for k in range(1, n_steps + 1)]
    reached = journeys[times].notna().cumprod(axis=1)
    journeys = journeys.assign(steps_reached=reached.sum(axis=1).astype("int64"))
    masked = journeys[times].where(reached.astype(bool))
    if ordering == "any":
        masked = masked.cummax(axis=1).where(reached.astype(bool))
    journeys[times] = masked
    return journeys[["unit_id", CUSTOMER_ID, "steps_reached", *times]].sort_values(
        "unit_id", ignore_index=True
    )


def summarize_funnel(
    journeys: pd.DataFrame, steps: Sequence[Step], by: str | None = None
) -> pd.DataFrame:
    """Per step (and per group of ``by``): entered, converted, conversion, drop-off, timing.

    ``entered`` counts units that reached the step; ``converted`` those that went on to the
    next one. Step conversion is against the previous step, overall against step 1. Times
    are medians in seconds over the units that reached the step.
    """
    keys = [] if by is None else [by]
    groups = keys or ["_all"]
    frame = journeys.assign(_all=0)
    table = pd.concat(
        [
            _summarize_step(frame, k, groups).assign(step_number=k, step=step.name)
            for k, step in enumerate(steps, start=1)
        ],
        ignore_index=True,
    ).sort_values([*groups, "step_number"], ignore_index=True)
    entered = table.groupby(groups)["entered"]
    first = entered.transform("first")
    previous = entered.shift(1).fillna(table["entered"])
    table = table.assign(
        converted=table["converted"].astype("Int64").mask(table["step_number"] == len(steps)),
        step_conversion=table["entered"] / previous.where(previous > 0),
        overall_conversion=table["entered"] / first.where(first > 0),
        drop_off=(previous - table["entered"]).astype("int64"),
    )
    table["drop_off_rate"] = 1 - table["step_conversion"]
    columns = [
        *keys,
        "step_number",
        "step",
        "entered",
        "converted",
        "step_conversion",
        "overall_conversion",
        "drop_off",
        "drop_off_rate",
        "median_seconds_from_previous",
        "median_seconds_from_start",
    ]
    return table[columns]


def _summarize_step(frame: pd.DataFrame, k: int, groups: list[str]) -> pd.DataFrame:
    reached = frame["steps_reached"] >= k
    no_previous = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us]")
    previous = frame[f"at_{k - 1}"] if k > 1 else no_previous
    return (
        frame.assign(
            _entered=reached,
            _next=frame["steps_reached"] >= k + 1,
            _from_previous=(frame[f"at_{k}"] - previous).dt.total_seconds(),
            _from_start=(frame[f"at_{k}"] - frame["at_1"]).dt.total_seconds(),
        )
        .groupby(groups, dropna=False)
        .agg(
            entered=("_entered", "sum"),
            converted=("_next", "sum"),
            median_seconds_from_previous=("_from_previous", "median"),
            median_seconds_from_start=("_from_start", "median"),
        )
        .reset_index()
    )


def find_biggest_drop(summary: pd.DataFrame) -> int:
    """The step (2..n) with the lowest conversion from its previous step."""
    later = summary[summary["step_number"] > 1].dropna(subset=["step_conversion"])
    if later.empty:
        raise DataValidationError("no unit entered the funnel: nothing to compare")
    return int(later.sort_values(["step_conversion", "step_number"]).iloc[0]["step_number"])


def compare_drop(
    journeys: pd.DataFrame,
    step_number: int,
    attributes: pd.DataFrame | None = None,
    features: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """How units that passed ``step_number`` differ from those that dropped just before it.

    Among units that reached the previous step, categorical attributes are compared by the
    share of each level (Cohen's h) and numeric features by their means (Cohen's d, pooled
    standard deviation); rows are ranked by absolute effect size. Positive effects are
    higher among converters.
    """
    at_risk = journeys.loc[journeys["steps_reached"] >= step_number - 1, [CUSTOMER_ID]].assign(
        converted=journeys["steps_reached"] >= step_number
    )
    parts = []
    if attributes is not None and attributes.shape[1] > 1:
        parts.append(_compare_levels(at_risk, attributes))
    if features is not None and features.shape[1] > 1:
        parts.append(_compare_means(at_risk, features))
    if not parts:
        return pd.DataFrame(
            columns=["kind", "variable", "level", "converters", "drop_offs", "effect_size"]
        )
    table = pd.concat(parts, ignore_index=True)
    order = table["effect_size"].abs().sort_values(ascending=False, kind="stable").index
    return table.loc[order].reset_index(drop=True)


def _compare_levels(at_risk: pd.DataFrame, attributes: pd.DataFrame) -> pd.DataFrame:
    long = at_risk.merge(attributes, on=CUSTOMER_ID, how="left").melt(
        id_vars=[CUSTOMER_ID, "converted"], var_name="variable", value_name="level"
    )
    long["level"] = long["level"].astype("str").fillna("(missing)")
    counts = long.groupby(["variable", "level", "converted"]).size().unstack("converted")
    counts = counts.reindex(columns=[True, False]).fillna(0)
    totals = at_risk["converted"].value_counts().reindex([True, False]).fillna(0)
    shares = counts / totals.where(totals > 0)
    effect = 2 * np.arcsin(np.sqrt(shares[True])) - 2 * np.arcsin(np.sqrt(shares[False]))
    return pd.DataFrame(
        {
            "kind": "attribute",
            "converters": shares[True],
            "drop_offs": shares[False],
            "effect_size": effect,
        }
    ).reset_index()[["kind", "variable", "level", "converters", "drop_offs", "effect_size"]]


def _compare_means(at_risk: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    numeric = features.set_index(CUSTOMER_ID).select_dtypes("number")
    joined = at_risk.set_index(CUSTOMER_ID).join(numeric, how="left")
    stats = joined.groupby("converted")[list(numeric.columns)].agg(["mean", "var", "count"])
    stats = stats.reindex([True, False])
    mean = stats.xs("mean", axis=1, level=1)
    var = stats.xs("var", axis=1, level=1).fillna(0.0)
    count = stats.xs("count", axis=1, level=1)
    pooled = np.sqrt(
        ((count.loc[True] - 1) * var.loc[True] + (count.loc[False] - 1) * var.loc[False])
        / (count.loc[True] + count.loc[False] - 2)
    )
    effect = (mean.loc[True] - mean.loc[False]) / pooled.where(pooled > 0)
    return pd.DataFrame(
        {
            "kind": "feature",
            "variable": numeric.columns,
            "level": "",
            "converters": mean.loc[True].to_numpy(),
            "drop_offs": mean.loc[False].to_numpy(),
            "effect_size": effect.to_numpy(),
        }
    ).dropna(subset=["effect_size"])
