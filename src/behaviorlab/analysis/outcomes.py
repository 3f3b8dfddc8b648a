"""Point-in-time outcomes of assigned customers, and the same metric before assignment.

For each assigned customer the outcome counts only events in [assigned_at, assigned_at +
days) and the CUPED covariate only events in [assigned_at - days, assigned_at): nothing
else. One SQL query where the events lie; only one row per assigned customer comes back.
"""

from collections.abc import Sequence

import pandas as pd

from behaviorlab.analysis.engine import Table, has_column, query
from behaviorlab.data.contract import AMOUNT, CUSTOMER_ID, EVENT, TIMESTAMP
from behaviorlab.errors import ConfigError, DataValidationError

KINDS = ("retention", "churn", "conversion", "revenue")
BINARY_KINDS = ("retention", "churn", "conversion")
ASSIGNED_AT = "assigned_at"
GROUP = "group"


def measure_outcomes(
    events: Table,
    assignments: pd.DataFrame,
    kind: str,
    days: int,
    outcome_events: Sequence[str] | None = None,
    data_end: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """``customer_id, group, assigned_at, outcome, pre_outcome, pre_active_days`` for every
    assigned customer (``pre_active_days``: days with any event before assignment).

    retention: any event in the window (churn is 1 - retention); conversion: any event named
    in ``outcome_events``; revenue: the summed amount (of ``outcome_events`` if given). When
    ``data_end`` (the last event) is given, a window that would run past the data is refused.
    """
    check_outcome(kind, days, outcome_events)
    if kind == "revenue" and not has_column(events, AMOUNT):
        raise DataValidationError("lift outcome 'revenue' needs the events' 'amount' column")
    if data_end is not None:
        check_window_inside(assignments, days, data_end)
    names = list(outcome_events or [])
    chosen = f"list_contains($events, e.{EVENT})"
    if kind == "revenue":
        amount = f"coalesce(e.{AMOUNT}, 0)"
        counted = f"case when {chosen} then {amount} else 0 end" if names else amount
        template = "coalesce(sum({counted}) filter (where {window}), 0)::double"
    else:
        counted = chosen if kind == "conversion" else "true"
        template = "coalesce(bool_or({counted}) filter (where {window}), false)::int"
    outcome = template.format(counted=counted, window=f"e.{TIMESTAMP} >= a.{ASSIGNED_AT}")
    pre = template.format(counted=counted, window=f"e.{TIMESTAMP} < a.{ASSIGNED_AT}")
    frame = query(
        f"""
        select a.{CUSTOMER_ID}, a."{GROUP}", a.{ASSIGNED_AT},
               {outcome} as outcome, {pre} as pre_outcome,
               count(distinct e.{TIMESTAMP}::date) filter (where e.{TIMESTAMP} < a.{ASSIGNED_AT})
                   as pre_active_days
        from assignments a
        left join events e
          on e.{CUSTOMER_ID} = a.{CUSTOMER_ID}
         and e.{TIMESTAMP} >= a.{ASSIGNED_AT} - to_days($days)
         and e.{TIMESTAMP} < a.{ASSIGNED_AT} + to_days($days)
        group by all
        order by a.{CUSTOMER_ID}
        """,
        {"days": int(days), **({"events": names} if chosen in counted else {})},
        events=events,
        assignments=assignments[[CUSTOMER_ID, GROUP, ASSIGNED_AT]],
    )
    if kind == "churn":
        frame = frame.assign(outcome=1 - frame["outcome"], pre_outcome=1 - frame["pre_outcome"])
    return frame.astype({CUSTOMER_ID: "str", GROUP: "str"})


def check_outcome(kind: str, days: int, outcome_events: Sequence[str] | None) -> None:
    """A known outcome kind, a positive window, and events for conversion."""
    if kind not in KINDS:
        raise ConfigError(f"outcome.kind must be one of {', '.join(KINDS)}, got '{kind}'")
    if int(days) < 1:
        raise ConfigError(f"outcome.days must be at least 1, got {days}")
    if kind == "conversion" and not outcome_events:
        raise ConfigError("outcome.events must name the conversion events (e.g. [upgrade])")


def check_window_inside(assignments: pd.DataFrame, days: int, data_end: pd.Timestamp) -> None:
    """Refuse outcome windows that end after the data: a short window would read as churn."""
    end = pd.Timestamp(data_end).normalize() + pd.Timedelta(days=1)
    latest = pd.Timestamp(assignments[ASSIGNED_AT].max())
    if latest + pd.Timedelta(days=int(days)) > end:
        raise DataValidationError(
            f"assigned_at {latest} plus the {days}-day outcome window ends after the data "
            f"({end.date()}); shorten outcome.days or use earlier assignments"
        )
