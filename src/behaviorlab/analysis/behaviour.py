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
    session_part = (
        f"""sessions as (
            select {CUSTOMER_ID}, count(*) as sessions
            from (select distinct {CUSTOMER_ID}, {SESSION_ID} from before) group by 1),"""
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
        with before as (select * from events where {TIMESTAMP} < $cutoff),
        daily as (
            select {CUSTOMER_ID}, {TIMESTAMP}::date as day, count(*) as n,
                   count(*) filter (where {EVENT} = $purchase) as purchases,
                   {revenue} as revenue,
                   min({TIMESTAMP}) as first_at, max({TIMESTAMP}) as last_at
            from before group by 1, 2
        ),
        kinds as (
            select {CUSTOMER_ID}, count(*) as event_types
            from (select distinct {CUSTOMER_ID}, {EVENT} from before) group by 1
        ),
        {session_part}
        totals as (
            select {CUSTOMER_ID}, sum(n)::bigint as events, count(*) as active_days,
                   sum(purchases)::bigint as purchases, sum(revenue)::double as revenue,
                   min(first_at) as first_at, max(last_at) as last_at
            from daily group by 1
        )
        select t.{CUSTOMER_ID}, t.events, t.active_days
               {", coalesce(s.sessions, 0) as sessions" if has_sessions else ""},
               t.purchases, t.revenue, k.event_types,
               t.events / t.active_days as events_per_active_day,
               date_diff('second', t.first_at, $cutoff) / 86400.0 as tenure_days,
               date_diff('second', t.last_at, $cutoff) / 86400.0 as days_since_last_event
        from totals t join kinds k using ({CUSTOMER_ID})
        {f"left join sessions s using ({CUSTOMER_ID})" if has_sessions else ""}
        order by 1
        """,
        {"cutoff": pd.Timestamp(cutoff).to_pydatetime(), "purchase": purchase_event},
        events=events[columns],
    )
    return frame if has_amounts else frame.drop(columns="revenue")
