"""Customer lifetime value from a purchase-count model and a spend model, and its segments.

CLV follows lifetimes' discounted cash flow: months of 30 days, each month's expected
purchases (the difference of the cumulative expectation) times the expected spend per
purchase and the margin, discounted by ``(1 + monthly_discount) ** month``.
"""

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import pandas as pd

from behaviorlab.data.contract import CUSTOMER_ID
from behaviorlab.errors import ConfigError
from behaviorlab.modeling.clv.gammagamma import GammaGammaModel

DAYS_PER_MONTH = 30
HISTORY = ("frequency", "recency", "T", "monetary_value")
TIERS = ("high", "medium", "low")
ALIVE, AT_RISK = "alive", "at risk"


class TransactionsModel(Protocol):
    """What CLV needs from BG/NBD or Pareto/NBD."""

    def expected_purchases(self, summary: pd.DataFrame, t_days: float) -> np.ndarray: ...

    def probability_alive(self, summary: pd.DataFrame) -> np.ndarray: ...


def customer_lifetime_value(
    transactions_model: TransactionsModel,
    spend_model: GammaGammaModel | None,
    summary: pd.DataFrame,
    months: int,
    monthly_discount: float,
    margin: float,
) -> np.ndarray:
    """Discounted value of each customer's expected purchases over the next ``months``.

    Without a spend model (no amounts in the data) each purchase is worth one unit and no
    margin applies: the result is the discounted expected number of purchases.
    """
    check_value_settings(months, monthly_discount, margin)
    histories, rows = distinct_histories(summary)
    if spend_model is None:
        per_purchase, margin = np.ones(len(histories)), 1.0
    else:
        per_purchase = spend_model.expected_order_value(histories)
    cumulative = [np.zeros(len(histories))] + [
        transactions_model.expected_purchases(histories, DAYS_PER_MONTH * month)
        for month in range(1, months + 1)
    ]
    value = np.zeros(len(histories))
    for month in range(1, months + 1):
        bought = cumulative[month] - cumulative[month - 1]
        value += bought * per_purchase * margin / (1 + monthly_discount) ** month
    return value[rows]


def distinct_histories(summary: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The distinct (frequency, recency, T, monetary_value) rows and each customer's row.

    Customers with the same history get the same scores, so each history is scored once:
    a large base has far fewer histories than customers (CDNOW x20: 471,400 customers).
    """
    columns = [name for name in HISTORY if name in summary]
    rows = summary.groupby(columns, sort=False, dropna=False).ngroup().to_numpy()
    return summary.drop_duplicates(columns)[columns].reset_index(drop=True), rows


def check_value_settings(months: int, monthly_discount: float, margin: float) -> None:
    """Months positive, discount and margin rates that make sense."""
    if int(months) < 1:
        raise ConfigError(f"clv months must be at least 1, got {months}")
    if monthly_discount < 0:
        raise ConfigError(f"clv monthly_discount must be >= 0, got {monthly_discount}")
    if not 0 < margin <= 1:
        raise ConfigError(f"clv margin must be in (0, 1], got {margin}")


def score_clv(
    summary: pd.DataFrame,
    transactions_model: TransactionsModel,
    spend_model: GammaGammaModel | None,
    *,
    horizon_days: float,
    months: int,
    monthly_discount: float,
    margin: float,
    alive_model: TransactionsModel | None = None,
) -> pd.DataFrame:
    """Per customer: expected purchases in ``horizon_days``, P(alive), spend per order, CLV.

    ``alive_model`` gives P(alive) when it should come from another model than the
    purchases (BG/NBD calls every one-time buyer alive; Pareto/NBD does not).
    """
    if horizon_days <= 0:
        raise ConfigError(f"clv horizon_days must be positive, got {horizon_days}")
    histories, rows = distinct_histories(summary)
    order_value = (
        spend_model.expected_order_value(histories)
        if spend_model is not None
        else np.full(len(histories), np.nan)
    )
    bought = transactions_model.expected_purchases(histories, horizon_days)
    alive = (alive_model or transactions_model).probability_alive(histories)
    return pd.DataFrame(
        {
            CUSTOMER_ID: summary[CUSTOMER_ID].to_numpy(),
            "expected_purchases": bought[rows],
            "probability_alive": alive[rows],
            "expected_order_value": order_value[rows],
            "clv": customer_lifetime_value(
                transactions_model, spend_model, summary, months, monthly_discount, margin
            ),
        }
    )


def segment_clv(
    scored: pd.DataFrame, value_shares: Sequence[float] = (0.2, 0.3), alive_threshold: float = 0.5
) -> pd.DataFrame:
    """Add value tier (top share high, next share medium, rest low) and alive / at risk status.

    Tiers go by CLV rank, ties broken by customer id, so a tier holds exactly its share of
    customers whatever the row order.
    """
    high, medium = check_segment_settings(value_shares, alive_threshold)
    order = np.lexsort((scored[CUSTOMER_ID].to_numpy(), -scored["clv"].to_numpy()))
    position = np.empty(len(scored))
    position[order] = np.arange(len(scored)) / max(len(scored), 1)
    tier = np.select([position < high, position < high + medium], TIERS[:2], TIERS[2])
    status = np.where(scored["probability_alive"] >= alive_threshold, ALIVE, AT_RISK)
    segment = pd.Series(tier, dtype="str") + " value, " + pd.Series(status, dtype="str")
    return scored.assign(
        value_tier=pd.array(tier, dtype="str"),
        status=pd.array(status, dtype="str"),
        segment=segment.to_numpy(),
    )


def check_segment_settings(
    value_shares: Sequence[float], alive_threshold: float
) -> tuple[float, float]:
    """Two tier shares in (0, 1) that sum to at most 1; a threshold in (0, 1)."""
    shares = [float(share) for share in value_shares]
    if len(shares) != 2 or min(shares) <= 0 or sum(shares) > 1:
        raise ConfigError(
            f"clv value_shares must be two positive shares (high, medium) summing to <= 1, "
            f"got {list(value_shares)}"
        )
    if not 0 < alive_threshold < 1:
        raise ConfigError(f"clv alive_threshold must be in (0, 1), got {alive_threshold}")
    return shares[0], shares[1]
