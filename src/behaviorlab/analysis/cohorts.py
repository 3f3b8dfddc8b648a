"""Cohort retention: calendar or behavioural cohorts, per-period and "k or later" rates."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from behaviorlab.analysis.engine import Table, query
from behaviorlab.data.contract import CUSTOMER_ID, EVENT, SIGNUP_AT, TIMESTAMP
from behaviorlab.errors import ConfigError, DataValidationError

PERIODS = ("day", "week", "month")
ANCHORS = ("first_activity", "signup")


def find_anchors(
    events: Table,
    customers: pd.DataFrame | None,
    anchor: str = "first_activity",
    anchor_event: str | None = None,
) -> pd.DataFrame:
    """Each customer's start: first (qualifying) event, or signup from the customer table."""
    if anchor not in ANCHORS:
        raise ConfigError(f"cohort anchor must be one of {ANCHORS}, got '{anchor}'")
    if anchor == "signup":
        if customers is None or SIGNUP_AT not in customers:
            raise DataValidationError(
                "cohorts anchored on signup need a customer table with a signup_at column"
            )
        start = customers.loc[customers[SIGNUP_AT].notna(), [CUSTOMER_ID, SIGNUP_AT]]
        return start.rename(columns={SIGNUP_AT: "anchor_at"}).reset_index(drop=True)
    qualifying, params = event_condition(anchor_event)
    return query(
        f"""
        select {CUSTOMER_ID}, min({TIMESTAMP}) as anchor_at
        from events where {qualifying} group by 1 order by 1
        """,
        params,
        events=events,
    )


def event_condition(event: str | None) -> tuple[str, dict]:
    """A condition keeping one event (every event when None), with its parameter."""
    return ("true", {}) if event is None else (f"{EVENT} = $event", {"event": event})


def assign_period_cohorts(anchors: pd.DataFrame, period: str = "month") -> pd.DataFrame:
    """Cohort = the calendar period (day, week from Monday, month) the customer started in."""
    check_period(period)
    freq = {"day": "D", "week": "W-SUN", "month": "M"}[period]
    start = anchors["anchor_at"].dt.to_period(freq).dt.start_time.astype("datetime64[us]")
    label = start.dt.strftime("%Y-%m" if period == "month" else "%Y-%m-%d")
    return anchors.assign(cohort=label)


def assign_behaviour_cohorts(
    events: Table, anchors: pd.DataFrame, event: str, within_days: float
) -> pd.DataFrame:
    """Cohort = whether the customer did ``event`` within ``within_days`` of their start."""
    did = query(
        f"""
        select distinct a.{CUSTOMER_ID}
        from anchors a join events e on e.{CUSTOMER_ID} = a.{CUSTOMER_ID}
        where e.{EVENT} = $event
          and e.{TIMESTAMP} > a.anchor_at
          and e.{TIMESTAMP} < a.anchor_at + to_microseconds({_micros(within_days)}::bigint)
        """,
        {"event": event},
        anchors=anchors,
        events=events,
    )[CUSTOMER_ID]
    days = f"{within_days:g}"
    label = np.where(
        anchors[CUSTOMER_ID].isin(did),
        f"{event} within {days}d",
        f"no {event} within {days}d",
    )
    return anchors.assign(cohort=label)


def compute_retention(
    events: Table,
    cohorts: pd.DataFrame,
    period: str,
    data_end: pd.Timestamp,
    returning_event: str | None = None,
    max_periods: int = 12,
) -> pd.DataFrame:
    """Long retention table: one row per (cohort, period k).

    Period k counts calendar periods from each customer's start period. ``returned``
    counts customers with a returning event in period k, ``returned_or_later`` those
    with one in period k or any later period. A customer enters the denominator of
    period k only when k is fully or partly observed before ``data_end``, so recent
    cohorts are not diluted by periods that have not happened yet. Events are first
    reduced to one row per customer and period (with its latest time, which decides
    whether the start period has an event at or after the start), so the join is small.
    """
    check_period(period)
    returning, params = event_condition(returning_event)
    table = query(
        f"""
        with c as (
            select {CUSTOMER_ID}, cohort, anchor_at,
                   least({_period_diff(period, "anchor_at", "$data_end")},
                         {int(max_periods)}) as last_k
            from cohorts
        ),
        active as (
            select {CUSTOMER_ID}, date_trunc('{period}', {TIMESTAMP}) as start,
                   max({TIMESTAMP}) as last_at
            from events where {TIMESTAMP} <= $data_end and {returning} group by 1, 2
        ),
        r as (
            select distinct c.{CUSTOMER_ID},
                   date_diff('{period}', date_trunc('{period}', c.anchor_at), a.start) as k
            from c join active a on a.{CUSTOMER_ID} = c.{CUSTOMER_ID}
            where a.last_at >= c.anchor_at
        ),
        last_return as (select {CUSTOMER_ID}, max(k) as k from r group by 1),
        grid as (
            select c.{CUSTOMER_ID}, c.cohort, g.k
            from c, range(0, {int(max_periods) + 1}) g(k)
            where g.k <= c.last_k
        )
        select grid.cohort, grid.k::bigint as period,
               count(*) as customers,
               count(r.k) as returned,
               count(*) filter (where l.k >= grid.k) as returned_or_later
        from grid
        left join r on r.{CUSTOMER_ID} = grid.{CUSTOMER_ID} and r.k = grid.k
        left join last_return l on l.{CUSTOMER_ID} = grid.{CUSTOMER_ID}
        group by 1, 2 order by 1, 2
        """,
        {"data_end": pd.Timestamp(data_end).to_pydatetime(), **params},
        cohorts=cohorts[[CUSTOMER_ID, "cohort", "anchor_at"]],
        events=events,
    )
    sizes = cohorts.groupby("cohort").size().rename("cohort_size")
    table = table.merge(sizes, left_on="cohort", right_index=True)
    return table.assign(
        rate=table["returned"] / table["customers"],
        rate_or_later=table["returned_or_later"] / table["customers"],
    )[
        [
            "cohort",
            "cohort_size",
            "period",
            "customers",
            "returned",
            "rate",
            "returned_or_later",
            "rate_or_later",
        ]
    ]


def pivot_retention(table: pd.DataFrame, value: str = "rate") -> pd.DataFrame:
    """Cohort x period matrix of one retention column; unobserved cells are missing."""
    matrix = table.pivot(index="cohort", columns="period", values=value)
    if value in ("customers", "returned", "returned_or_later"):
        matrix = matrix.astype("Int64")
    return matrix.rename_axis(index="cohort", columns="period")


def average_curve(table: pd.DataFrame, value: str = "rate") -> pd.DataFrame:
    """Customer-weighted retention curve over all cohorts observed at each period."""
    counts = "returned" if value == "rate" else "returned_or_later"
    curve = table.groupby("period", as_index=False)[["customers", counts]].sum()
    return curve.assign(**{value: curve[counts] / curve["customers"]})


@dataclass(frozen=True)
class CohortComparison:
    """Two cohorts' retention at one period, with a two-proportion z-test."""

    cohort_a: str
    cohort_b: str
    period: int
    measure: str
    n_a: int
    n_b: int
    rate_a: float
    rate_b: float
    difference: float
    ci_low: float
    ci_high: float
    z: float
    p_value: float
    confidence: float

    def to_frame(self) -> pd.DataFrame:
        """One-row table for writing next to the other outputs."""
        return pd.DataFrame([self.__dict__])


def compare_cohorts(
    table: pd.DataFrame,
    cohort_a: str,
    cohort_b: str,
    period: int,
    measure: str = "rate",
    confidence: float = 0.95,
) -> CohortComparison:
    """Is retention at ``period`` different between two cohorts?

    The z statistic uses the pooled proportion (the null of equal rates); the interval
    for the difference ``rate_a - rate_b`` uses the unpooled standard error.
    """
    counts = {"rate": "returned", "rate_or_later": "returned_or_later"}.get(measure)
    if counts is None:
        raise ConfigError(f"comparison measure must be 'rate' or 'rate_or_later', got '{measure}'")
    at_period = table[table["period"] == period].set_index("cohort")
    missing = {cohort_a, cohort_b} - set(at_period.index)
    if missing:
        raise DataValidationError(
            f"cohorts {sorted(missing)} have no observed customers at period {period}"
        )
    n_a, n_b = int(at_period.at[cohort_a, "customers"]), int(at_period.at[cohort_b, "customers"])
    x_a, x_b = int(at_period.at[cohort_a, counts]), int(at_period.at[cohort_b, counts])
    p_a, p_b = x_a / n_a, x_b / n_b
    pooled = (x_a + x_b) / (n_a + n_b)
    se_pooled = np.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    z = (p_a - p_b) / se_pooled if se_pooled > 0 else 0.0
    se = np.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    half = stats.norm.ppf(0.5 + confidence / 2) * se
    return CohortComparison(
        cohort_a=cohort_a,
        cohort_b=cohort_b,
        period=int(period),
        measure=measure,
        n_a=n_a,
        n_b=n_b,
        rate_a=p_a,
        rate_b=p_b,
        difference=p_a - p_b,
        ci_low=float(p_a - p_b - half),
        ci_high=float(p_a - p_b + half),
        z=float(z),
        p_value=float(2 * stats.norm.sf(abs(z))),
        confidence=confidence,
    )


def check_period(period: str) -> None:
    """Periods are calendar days, weeks or months."""
    if period not in PERIODS:
        raise ConfigError(f"cohort period must be one of {PERIODS}, got '{period}'")


def _period_diff(period: str, start: str, end: str) -> str:
    return f"date_diff('{period}', date_trunc('{period}', {start}), date_trunc('{period}', {end}))"


def _micros(days: float) -> int:
    return round(days * 86_400_000_000)
