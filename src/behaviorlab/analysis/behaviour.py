"""A small, readable set of per-customer behavioural features at a cutoff.

Used to describe customers in the analyses (cluster profiles, funnel drop-offs), where
a handful of plain quantities with plain names reads better than a model's feature set.
"""

import pandas as pd

from behaviorlab.analysis.engine import query
from behaviorlab.data.contract import AMOUNT, CUSTOMER_ID, EVENT, SESSION_ID, TIMESTAMP


def summarize_behaviour(
    events: pd.DataFrame, cutoff: pd.Timestamp, purchase_event: str = "purchase"
) -> pd.DataFrame:
    """Per customer, from events strictly before ``cutoff``.

    Columns: events, active_days, sessions (when the log has session ids), purchases,
    revenue (when it has amounts), event_types, events_per_active_day, tenure_days and
    days_since_last_event.
    """
    has_sessions = SESSION_ID in events
    has_amounts = AMOUNT in events
    columns = [CUSTOMER_ID, TIMESTAMP, EVENT]
    columns += [SESSION_ID] if has_sessions else []
    columns += [AMOUNT] if has_amounts else []
    sessions = f", count(distinct {SESSION_ID}) as sessions" if has_sessions else ""
    revenue = (
        f", coalesce(sum({AMOUNT}) filter (where {EVENT} = $purchase), 0)::double as revenue"
        if has_amounts
        else ""
    )
    return query(
        f"""
        select {CUSTOMER_ID},
               count(*) as events,
               count(distinct {TIMESTAMP}::date) as active_days
               {sessions},
               count(*) filter (where {EVENT} = $purchase) as purchases
               {revenue},
               count(distinct {EVENT}) as event_types,
               count(*) / count(distinct {TIMESTAMP}::date) as events_per_active_day,
               date_diff('second', min({TIMESTAMP}), $cutoff) / 86400.0 as tenure_days,
               date_diff('second', max({TIMESTAMP}), $cutoff) / 86400.0 as days_since_last_event
        from events where {TIMESTAMP} < $cutoff
        group by 1 order by 1
        """,
        {"cutoff": pd.Timestamp(cutoff).to_pydatetime(), "purchase": purchase_event},
        events=events[columns],
    )
