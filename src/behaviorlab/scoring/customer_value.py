"""A fitted CLV model as the product deploys it: the transactions model, the Gamma-Gamma
spend model and the settings that turn them into a value, stored as plain JSON.

``FittedClv.predict`` is what the registered pyfunc answers (summary columns in, expected
purchases, probability alive, expected order value and CLV out); ``CustomerValue`` applies
it at a scoring cutoff to the customers of one scoring partition. The model is fitted once
(``fit_clv``): scoring only reads each customer's own purchase summary.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ibis
import numpy as np
import pandas as pd

from behaviorlab.data.contract import AMOUNT, CUSTOMER_ID, EVENT, TIMESTAMP
from behaviorlab.errors import ConfigError, DataValidationError
from behaviorlab.modeling.clv import (
    GammaGammaModel,
    score_clv,
    summarize_purchases,
    transactions_model,
)

SUMMARY_COLUMNS = ["frequency", "recency", "T", "monetary_value"]
OUTPUT_COLUMNS = ["expected_purchases", "probability_alive", "expected_order_value", "clv"]
VALUE_AT_RISK = "value_at_risk"
SETTINGS = ("horizon_days", "months", "monthly_discount", "margin", "purchase_events")


@dataclass(frozen=True)
class FittedClv:
    """A transactions model (``kind``: pareto_nbd or bg_nbd), a spend model and the value
    settings: ``horizon_days`` of expected purchases, ``months`` of discounted value at
    ``monthly_discount``, ``margin`` on revenue, and the ``purchase_events`` summarised."""

    kind: str
    transactions: Any
    spend: GammaGammaModel
    settings: Mapping[str, Any]

    def predict(self, summary: pd.DataFrame) -> pd.DataFrame:
        """Expected purchases in the horizon, probability alive, expected order value and
        CLV for each summary row (its index kept), as ``score_clv`` computes them (rows
        keyed by position: the pyfunc's input has no customer id)."""
        rows = summary_inputs(summary)
        settings = self.settings
        scored = score_clv(
            rows.assign(**{CUSTOMER_ID: np.arange(len(rows))}),
            self.transactions,
            self.spend,
            horizon_days=settings["horizon_days"],
            months=settings["months"],
            monthly_discount=settings["monthly_discount"],
            margin=settings["margin"],
        )
        return scored[OUTPUT_COLUMNS].astype("float64").set_axis(summary.index)

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild the model, as JSON-ready values (no pickle)."""
        return {
            "transactions_model": self.kind,
            "transactions": self.transactions.to_dict(),
            "spend": self.spend.to_dict(),
            "settings": dict(self.settings),
        }

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> "FittedClv":
        """The model ``to_dict`` stored."""
        kind = stored["transactions_model"]
        return cls(
            kind=kind,
            transactions=transactions_model(kind).from_dict(stored["transactions"]),
            spend=GammaGammaModel.from_dict(stored["spend"]),
            settings=dict(stored["settings"]),
        )


def summary_inputs(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary columns as floats; one line naming any that is missing."""
    missing = [name for name in SUMMARY_COLUMNS if name not in summary.columns]
    if missing:
        raise DataValidationError(f"the CLV model needs the summary columns {missing}")
    return summary[SUMMARY_COLUMNS].astype("float64").reset_index(drop=True)


def purchases_of(
    events: pd.DataFrame | ibis.Table, purchase_events: Sequence[str]
) -> pd.DataFrame | ibis.Table:
    """The purchase rows of an event log (lazy for a table), with the columns a summary
    reads; an event log without amounts cannot value customers."""
    if AMOUNT not in events.columns:
        raise DataValidationError(
            f"customer lifetime value needs purchase amounts: the event log has no {AMOUNT!r} "
            "column"
        )
    columns = [CUSTOMER_ID, TIMESTAMP, AMOUNT]
    if isinstance(events, ibis.Table):
        return events.filter(events[EVENT].isin(list(purchase_events))).select(*columns)
    return events.loc[events[EVENT].isin(list(purchase_events)), columns]


def fit_clv(
    summary: pd.DataFrame,
    kind: str,
    settings: Mapping[str, Any],
    *,
    penalizer: float = 0.0,
    spend_penalizer: float = 0.0,
) -> FittedClv:
    """Fit the transactions model on every customer and Gamma-Gamma on the repeat buyers."""
    return FittedClv(
        kind=kind,
        transactions=transactions_model(kind)(penalizer=penalizer).fit(summary),
        spend=GammaGammaModel(penalizer=spend_penalizer).fit(summary),
        settings={key: settings[key] for key in SETTINGS},
    )


@dataclass(frozen=True)
class CustomerValue:
    """A fitted CLV model applied at one cutoff: each customer's purchases before it are
    summarised and valued. Customers without a purchase before the cutoff have no
    summary: their CLV is 0 and their expected purchases, probability alive and order
    value are missing (the model describes buyers only)."""

    fitted: FittedClv
    cutoff: pd.Timestamp

    @classmethod
    def of_events(
        cls, fitted: FittedClv, cutoff: pd.Timestamp, events: pd.DataFrame | ibis.Table | None
    ) -> "CustomerValue":
        """The model applied at ``cutoff`` to this event log, refused before any scoring
        when the log cannot be valued (no events, or no amounts)."""
        if events is None:
            raise ConfigError("clv_model values customers from their purchases: no event log")
        purchases_of(events, fitted.settings["purchase_events"])
        return cls(fitted, pd.Timestamp(cutoff))

    def score(self, events: pd.DataFrame | None, customer_ids: pd.Series) -> pd.DataFrame:
        """The CLV outputs of each customer id given, in their order."""
        ids = customer_ids.astype("str").reset_index(drop=True)
        purchases = purchases_of(events, self.fitted.settings["purchase_events"])
        summary = summarize_purchases(purchases, self.cutoff)
        valued = self.fitted.predict(summary).set_axis(
            summary[CUSTOMER_ID].astype("str").to_numpy()
        )
        joined = valued.reindex(ids.to_numpy()).reset_index(drop=True)
        return joined.assign(clv=joined["clv"].fillna(0.0))
