"""Customer lifetime value features: Pareto/NBD or BG/NBD (and Gamma-Gamma for spend)
fitted at each cutoff on that cutoff's history only.

For each distinct cutoff, the models are fitted on every customer of the event log who
bought before it (the customer base, not only the snapshots: a task's eligibility, e.g.
churn's recently active customers, would leave the models no dropout to learn), then score
that cutoff's snapshots: expected purchases over the horizon, probability alive and, with
amounts, the expected spend per purchase day and the discounted value of the next
``months``. No event at or after the cutoff, no other cutoff and no label enters a fit.

The engine reduces the purchases to one summary row per customer and cutoff (lifetimes'
conventions: ``rfm.bgnbd_summary``); only those rows come back, and the fits run in numpy,
one per cutoff. The fit reads the whole event log it is given: a caller that builds
features in parts of the customers fits first on the whole log
(``builder.fit_clv_models``) and hands the fitted parameters to each part. A cutoff with
fewer than ``min_customers`` buyers, or whose likelihood search fails, leaves its values
missing (with a warning).
"""

import warnings

import ibis
import numpy as np
import pandas as pd

from behaviorlab.data.contract import AMOUNT, CUSTOMER_ID, CUTOFF, EVENT, TIMESTAMP
from behaviorlab.data.validation import DataQualityWarning
from behaviorlab.errors import ConfigError, DataValidationError
from behaviorlab.features.engine import join_before_cutoff
from behaviorlab.features.families.common import described
from behaviorlab.features.families.rfm import bgnbd_summary
from behaviorlab.modeling.clv import GammaGammaModel, transactions_model
from behaviorlab.modeling.clv.value import check_value_settings, customer_lifetime_value

DEFAULTS: dict = {
    "enabled": False,
    # pareto_nbd tells one-time buyers apart in probability alive (BG/NBD: all 1); bg_nbd
    # fits about 15x faster (closed-form gradients)
    "transactions_model": "pareto_nbd",
    "horizon_days": None,  # None: the task's horizon (90 days without a task)
    "penalizer": 0.0,
    "spend_penalizer": 0.0,
    "months": 12,
    "monthly_discount": 0.01,
    "margin": 1.0,
    "min_customers": 20,
}
DEFAULT_HORIZON_DAYS = 90
SUMMARY = ("frequency", "recency", "T", "monetary_value")
FITTED = ("transactions", "spend")


def columns(p: dict) -> list[str]:
    """Expected purchases over the horizon, probability alive and (with amounts) value."""
    names = [f"clv_expected_purchases_{int(p['horizon_days'])}d", "clv_probability_alive"]
    return [*names, *(["clv_expected_order_value", "clv_value"] if p.get("monetary") else [])]


def descriptions(p: dict) -> dict[str, dict]:
    """A person's reading of each column (see ``common.described``)."""
    none = "no purchase yet, or too few buyers at the cutoff to fit"
    horizon = int(p["horizon_days"])
    table = {
        f"clv_expected_purchases_{horizon}d": described(
            f"purchase days expected in the next {horizon} days", "count", none
        ),
        "clv_probability_alive": described("probability of still being a customer", "share", none),
        "clv_expected_order_value": described(
            "expected to be spent per purchase day", "amount", none
        ),
        "clv_value": described(
            f"in discounted value expected over the next {p['months']} months",
            "amount",
            none,
        ),
    }
    return {name: table[name] for name in columns(p)}


def resolve(params: dict, purchase_events: list[str]) -> dict:
    """The family's frozen parameters: checked settings, the horizon (90 days when neither
    the spec nor a task sets one) and the purchase events."""
    p = {**params, "purchase_events": list(params.get("purchase_events") or purchase_events)}
    p["monetary"] = bool(p["monetary"])
    if p.get("horizon_days") is None:
        p["horizon_days"] = DEFAULT_HORIZON_DAYS
    check_params(p)
    p["horizon_days"] = int(p["horizon_days"])
    return p


def check_params(p: dict) -> None:
    """Refuse settings no fit can use, naming the key."""
    transactions_model(p["transactions_model"], "features.clv.transactions_model")
    for key, least in (("horizon_days", 1), ("min_customers", 2)):
        value = p[key]
        whole = isinstance(value, int | float) and not isinstance(value, bool)
        if not whole or not float(value).is_integer() or value < least:
            raise ConfigError(f"features.clv.{key} must be a whole number >= {least}: {value!r}")
    check_value_settings(p["months"], p["monthly_discount"], p["margin"])


def first_purchases(events: ibis.Table, p: dict) -> ibis.Table:
    """Each customer's first purchase time: one row per buyer."""
    bought = events.filter(events[EVENT].isin(p["purchase_events"]))
    return bought.group_by(CUSTOMER_ID).aggregate(first=bought[TIMESTAMP].min())


def buyers_before(first: pd.DataFrame, cutoffs) -> pd.DataFrame:
    """``customer_id, cutoff`` for every customer whose first purchase is before each
    cutoff: whom that cutoff's models are fitted on."""
    stamps = pd.Series(cutoffs, dtype="datetime64[us]").drop_duplicates().sort_values()
    parts = [
        pd.DataFrame(
            {
                CUSTOMER_ID: first.loc[first["first"] < cutoff, CUSTOMER_ID].astype("str"),
                CUTOFF: cutoff,
            }
        )
        for cutoff in stamps
    ]
    keys = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[CUSTOMER_ID])
    return keys.astype({CUSTOMER_ID: "str", CUTOFF: "datetime64[us]"})


def summary_table(events: ibis.Table, snapshots: ibis.Table, p: dict) -> ibis.Table:
    """Per snapshot with a purchase before its cutoff, lifetimes' summary, keyed by ``sid``:
    only purchase events enter the point-in-time join."""
    bought = events.filter(events[EVENT].isin(p["purchase_events"]))
    pit = join_before_cutoff(bought, snapshots, (AMOUNT,) if p["monetary"] else ())
    return bgnbd_summary(pit, p["purchase_events"], p["monetary"])


def with_keys(summary: pd.DataFrame, snapshots: pd.DataFrame) -> pd.DataFrame:
    """The fetched summary (one row per ``sid``) beside its snapshot keys, in snapshot order."""
    keys = snapshots[[CUSTOMER_ID, CUTOFF]].reset_index(drop=True)
    values = summary.reindex(columns=list(SUMMARY)).reset_index(drop=True)
    return pd.concat([keys, values], axis=1)


def fit_models(summaries: pd.DataFrame, cutoffs, p: dict) -> dict[pd.Timestamp, dict]:
    """Per cutoff, the fitted models as plain dicts (``to_dict``, None where a cutoff cannot
    be fitted); each fit reads that cutoff's summaries only."""
    bought = summaries.loc[summaries["frequency"].notna()]
    fitted = {}
    for cutoff in pd.Series(cutoffs, dtype="datetime64[us]").drop_duplicates().sort_values():
        rows = bought.loc[bought[CUTOFF] == cutoff].sort_values(CUSTOMER_ID, kind="stable")
        fitted[pd.Timestamp(cutoff)] = fit_cutoff(rows, p, pd.Timestamp(cutoff))
    return fitted


def fit_cutoff(summary: pd.DataFrame, p: dict, cutoff: pd.Timestamp) -> dict:
    """The transactions model and (with amounts) the spend model for one cutoff."""
    if len(summary) < int(p["min_customers"]):
        warn_unfitted(cutoff, f"{len(summary)} customers bought before it")
        return dict.fromkeys(FITTED)
    model = transactions_model(p["transactions_model"])(penalizer=float(p["penalizer"]))
    try:
        transactions = model.fit(summary).to_dict()
    except DataValidationError as error:
        warn_unfitted(cutoff, str(error))
        return dict.fromkeys(FITTED)
    return {"transactions": transactions, "spend": fit_spend(summary, p, cutoff)}


def fit_spend(summary: pd.DataFrame, p: dict, cutoff: pd.Timestamp) -> dict | None:
    """Gamma-Gamma on the cutoff's repeat buyers, or None (no amounts, no usable fit: a
    population mean spend needs q > 1)."""
    if not p["monetary"]:
        return None
    try:
        model = GammaGammaModel(penalizer=float(p["spend_penalizer"])).fit(summary)
    except DataValidationError as error:
        warn_unfitted(cutoff, f"spend: {error}")
        return None
    mean = model.population_mean()
    if not np.isfinite(mean) or mean <= 0:
        warn_unfitted(cutoff, "spend: the fitted spend distribution has no finite mean")
        return None
    return model.to_dict()


def warn_unfitted(cutoff: pd.Timestamp, why: str) -> None:
    """Say which cutoff has no CLV values, and why."""
    warnings.warn(
        f"features.clv: no model at cutoff {cutoff}: {why}; its clv features are missing",
        DataQualityWarning,
        stacklevel=4,
    )


def score(summaries: pd.DataFrame, fitted: dict[pd.Timestamp, dict], p: dict) -> pd.DataFrame:
    """The feature columns for each summary row (missing without a purchase or a model)."""
    names = columns(p)
    out = pd.DataFrame(np.nan, index=summaries.index, columns=names)
    bought = summaries["frequency"].notna()
    for cutoff, rows in summaries.loc[bought].groupby(CUTOFF, sort=True):
        models = fitted.get(pd.Timestamp(cutoff))
        if models is None:
            raise ConfigError(f"features.clv: no fitted models were given for cutoff {cutoff}")
        if models["transactions"] is not None:
            out.loc[rows.index, names] = score_cutoff(rows, models, p)
    return out


def score_cutoff(summary: pd.DataFrame, models: dict, p: dict) -> np.ndarray:
    """One cutoff's customers scored by its models, one column per feature."""
    stored = models["transactions"]
    transactions = transactions_model(stored["model"]).from_dict(stored)
    values = [
        transactions.expected_purchases(summary, float(p["horizon_days"])),
        transactions.probability_alive(summary),
    ]
    if p["monetary"]:
        spend = models["spend"]
        if spend is None:
            values += [np.full(len(summary), np.nan)] * 2
        else:
            spend_model = GammaGammaModel.from_dict(spend)
            months, discount, margin = p["months"], p["monthly_discount"], p["margin"]
            values += [
                spend_model.expected_order_value(summary),
                customer_lifetime_value(
                    transactions, spend_model, summary, months, discount, margin
                ),
            ]
    return np.column_stack(values)
