"""A small, readable set of per-customer behavioural features at a cutoff.

Used to describe customers in the analyses (cluster profiles, funnel drop-offs), where
a handful of plain quantities with plain names reads better than a model's feature set.
"""

import pandas as pd

from behaviorlab.analysis.engine import Table, has_column, query
from behaviorlab.data.contract import AMOUNT, CUSTOMER_ID, EVENT, SESSION_ID, TIMESTAMP


def summarize_behaviour(
    events: Table, cutoff: pd.Timestamp, purchase_event: str = "purchase"
) -> pd.DataFrame:
    """Per customer, from events strictly before ``cutoff``, in one pass over the events.

    Columns: events, active_days, sessions (when the log has session ids), purchases,
    revenue (when it has amounts), event_types, events_per_active_day, tenure_days and
    days_since_last_event.
    """
    has_sessions = has_column(events, SESSION_ID)
    has_amounts = has_column(events, AMOUNT)
    # Events without a session id count as one session of their own.
    sessions = (
        f"count(distinct {SESSION_ID}) + bool_or({SESSION_ID} is null)::bigint as sessions,"
        if has_sessions
        else ""
    )
    revenue = (
        f"coalesce(sum({AMOUNT}) filter (where {EVENT} = $purchase), 0)::double"
        if has_amounts
        else "null"
    )
    frame = query(
        f"""
        select {CUSTOMER_ID}, count(*) as events,
               count(distinct {TIMESTAMP}::date) as active_days,
               {sessions}
               count(*) filter (where {EVENT} = $purchase) as purchases,
               {revenue} as revenue,
               count(distinct {EVENT}) as event_types,
               count(*) / count(distinct {TIMESTAMP}::date) as events_per_active_day,
               date_diff('second', min({TIMESTAMP}), $cutoff) / 86400.0 as tenure_days,
               date_diff('second', max({TIMESTAMP}), $cutoff) / 86400.0
                   as days_since_last_event
        from events where {TIMESTAMP} < $cutoff
        group by 1 order by 1
        """,
        {"cutoff": pd.Timestamp(cutoff).to_pydatetime(), "purchase": purchase_event},
        events=events,
    )
    return frame if has_amounts else frame.drop(columns="revenue")
