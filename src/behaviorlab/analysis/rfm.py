"""RFM segmentation at a cutoff: quintile scores and the named R x FM segments."""

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from behaviorlab.analysis.engine import Table, has_column, query
from behaviorlab.data.contract import AMOUNT, CUSTOMER_ID, EVENT, TIMESTAMP
from behaviorlab.errors import ConfigError, DataValidationError

N_SCORES = 5

# Actions per named segment, in the order a business usually acts on them.
ACTIONS = {
    "Can't Lose Them": "big spenders who have gone quiet: win them back with a personal offer",
    "At Risk": "good customers slipping away: reactivate before they lapse",
    "Champions": "the best customers: reward them, ask for referrals and reviews",
    "Loyal Customers": "regular buyers: upsell and invite to a loyalty programme",
    "Potential Loyalists": "recent, growing customers: offer membership or a second-order nudge",
    "Need Attention": "average customers cooling down: limited-time offers",
    "About to Sleep": "low-value customers cooling down: share popular products",
    "New Customers": "first purchase just made: onboarding and a reason to come back",
    "Promising": "recent but light buyers: build the habit with relevant recommendations",
    "Hibernating": "low-value and inactive: low-cost reminders only",
    "Lost": "long gone: do not spend on them",
}
TARGET_ORDER = tuple(ACTIONS)


def score_rfm(
    events: Table, cutoff: pd.Timestamp, purchase_event: str = "purchase"
) -> pd.DataFrame:
    """Recency, frequency, monetary and their 1-5 quintile scores for every purchaser.

    Only events strictly before ``cutoff`` count. Frequency counts purchase occasions
    (distinct purchase days), so several orders on one day are one visit. Monetary is the
    summed ``amount``, or the number of purchase events when the log has no amounts.
    Scores use the minimum rank of each value, so equal values always share a score and
    the result does not depend on row order.
    """
    amount = AMOUNT if has_column(events, AMOUNT) else "1.0::double"
    scores = query(
        f"""
        with purchases as (
            select {CUSTOMER_ID}, {TIMESTAMP}, {amount} as {AMOUNT}
            from events where {EVENT} = $purchase and {TIMESTAMP} < $cutoff
        ),
        base as (
            select {CUSTOMER_ID} as customer_id,
                   max({TIMESTAMP}) as last_purchase,
                   date_diff('day', max({TIMESTAMP})::date, $cutoff::date)
                       as recency_days,
                   count(distinct {TIMESTAMP}::date) as frequency,
                   coalesce(sum({AMOUNT}), 0)::double as monetary
            from purchases group by 1
        )
        select *,
            {_score_sql("recency_days", descending=True)} as r_score,
            {_score_sql("frequency")} as f_score,
            {_score_sql("monetary")} as m_score
        from base order by customer_id
        """,
        {"cutoff": pd.Timestamp(cutoff).to_pydatetime(), "purchase": purchase_event},
        events=events,
    )
    if scores.empty:
        raise DataValidationError(
            f"no '{purchase_event}' events before {cutoff}: RFM needs purchases"
        )
    return scores.assign(fm_score=lambda frame: (frame["f_score"] + frame["m_score"] + 1) // 2)


def _score_sql(column: str, descending: bool = False) -> str:
    order = "desc" if descending else "asc"
    return (
        f"(1 + floor({N_SCORES} * (rank() over (order by {column} {order}) - 1)"
        f" / count(*) over ()))::bigint"
    )


def assign_segments(scores: pd.DataFrame, grid: Mapping[int, Sequence[str]]) -> pd.DataFrame:
    """Name each customer's segment from the R score (rows) x FM score (columns) grid."""
    check_grid(grid)
    lookup = pd.DataFrame(
        [
            {"r_score": int(r), "fm_score": fm + 1, "segment": name}
            for r, names in grid.items()
            for fm, name in enumerate(names)
        ]
    )
    return scores.merge(lookup, on=["r_score", "fm_score"], how="left", validate="m:1")


def check_grid(grid: Mapping[int, Sequence[str]]) -> None:
    """A segment grid names all 25 (R, FM) cells, so no customer is left unnamed."""
    rows = {int(r) for r in grid}
    if rows != set(range(1, N_SCORES + 1)) or any(len(row) != N_SCORES for row in grid.values()):
        raise ConfigError(
            "rfm segment grid must map R scores 1..5 to lists of 5 segment names (FM 1..5)"
        )


def summarize_segments(segmented: pd.DataFrame) -> pd.DataFrame:
    """Per segment: customers, share, revenue share, mean scores, days since last purchase."""
    summary = (
        segmented.groupby("segment")
        .agg(
            customers=(CUSTOMER_ID, "size"),
            revenue=("monetary", "sum"),
            mean_r=("r_score", "mean"),
            mean_f=("f_score", "mean"),
            mean_m=("m_score", "mean"),
            mean_days_since_purchase=("recency_days", "mean"),
            mean_frequency=("frequency", "mean"),
            mean_monetary=("monetary", "mean"),
        )
        .reset_index()
    )
    summary.insert(2, "share", summary["customers"] / summary["customers"].sum())
    total_revenue = summary["revenue"].sum()
    summary.insert(4, "revenue_share", summary["revenue"] / total_revenue if total_revenue else 0.0)
    return summary.sort_values(["revenue", "segment"], ascending=[False, True], ignore_index=True)


def count_rf_grid(scores: pd.DataFrame) -> pd.DataFrame:
    """Customers per (R score, F score) cell: rows R 5..1, columns F 1..5."""
    grid = pd.crosstab(scores["r_score"], scores["f_score"])
    levels = range(1, N_SCORES + 1)
    return grid.reindex(index=levels[::-1], columns=levels, fill_value=0).rename_axis(
        index="r_score", columns="f_score"
    )


def write_brief(summary: pd.DataFrame, cutoff: pd.Timestamp, has_amounts: bool = True) -> str:
    """A short Markdown brief: the segments to act on first, with their figures."""
    value = "revenue" if has_amounts else "purchases"
    by_name = summary.set_index("segment")
    present = [name for name in TARGET_ORDER if name in by_name.index]
    targets = present[:3]
    lines = [
        f"# RFM brief at {pd.Timestamp(cutoff):%Y-%m-%d}",
        "",
        f"{int(summary['customers'].sum()):,} purchasers in {len(summary)} segments. "
        f"Monetary is {'spend' if has_amounts else 'the number of purchases'}.",
        "",
        "## Target first",
        "",
    ]
    for rank, name in enumerate(targets, start=1):
        row = by_name.loc[name]
        lines.append(
            f"{rank}. **{name}**: {int(row['customers']):,} customers ({row['share']:.1%}), "
            f"{row['revenue_share']:.1%} of {value}, last purchase "
            f"{row['mean_days_since_purchase']:.0f} days ago on average; "
            f"{ACTIONS.get(name, 'review this segment')}."
        )
    top = summary.iloc[0]
    concentration = _revenue_concentration(summary)
    lines += [
        "",
        "## Why",
        "",
        f"- **{top['segment']}** carry the largest share of {value} "
        f"({top['revenue_share']:.1%} from {top['share']:.1%} of customers).",
        f"- The top {concentration[0]} segments hold {concentration[1]:.0%} of {value}.",
        "- Segments with high past value and a long gap since the last purchase are the "
        "cheapest revenue to save; inactive low-value segments are not worth paid effort.",
    ]
    return "\n".join(lines) + "\n"


def _revenue_concentration(summary: pd.DataFrame) -> tuple[int, float]:
    shares = summary["revenue_share"].to_numpy()
    n_top = int(min(3, len(shares)))
    return n_top, float(np.sum(np.sort(shares)[::-1][:n_top]))
