"""Customer lifetime value analysis: fit the CLV models at a cutoff, score, segment, brief.

``pipeline`` registers ``run_clv``; this module imports ``pipeline`` only inside
``run_clv`` (and for type hints), so either may be imported first without a cycle.
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import ibis
import pandas as pd

from behaviorlab.analysis import charts, clv_charts
from behaviorlab.analysis.engine import Table, has_column
from behaviorlab.data.contract import AMOUNT, CUSTOMER_ID, EVENT, TIMESTAMP
from behaviorlab.errors import ConfigError, DataValidationError
from behaviorlab.modeling.clv import (
    GammaGammaModel,
    HoldoutCheck,
    check_holdout,
    score_clv,
    segment_clv,
    summarize_purchases,
    transactions_model,
)
from behaviorlab.modeling.clv.value import check_segment_settings, check_value_settings

if TYPE_CHECKING:
    from behaviorlab.analysis.pipeline import Inputs, Result

# What to do with each segment, in the order a business usually acts on them.
ACTIONS = {
    "high value, at risk": "valuable customers who may have lapsed: win them back first, "
    "with a personal offer",
    "high value, alive": "the core of future value: keep them served and rewarded, do not discount",
    "medium value, at risk": "worth a low-cost reactivation campaign",
    "medium value, alive": "grow them: cross-sell and second-purchase nudges",
    "low value, alive": "automated, low-cost engagement only",
    "low value, at risk": "do not spend on them",
}
MODEL_NAMES = {"pareto_nbd": "Pareto/NBD", "bg_nbd": "BG/NBD"}


def run_clv(inputs: "Inputs", settings: Mapping[str, Any]) -> "Result":
    """Models fitted on purchases before the cutoff, per-customer CLV and segments, the
    holdout check (models refitted ``holdout_days`` earlier) and the brief."""
    from behaviorlab.analysis.pipeline import Result

    check_settings(settings)
    cutoff = pd.Timestamp(settings["cutoff"] or inputs.cutoff)
    purchases = select_purchases(inputs.events, settings["purchase_event"])
    has_amounts = has_column(inputs.events, AMOUNT)
    summary = summarize_purchases(purchases, cutoff)
    if summary.empty:
        raise DataValidationError(
            f"no '{settings['purchase_event']}' events before {cutoff.date()}: CLV needs purchases"
        )
    models = fit_models(summary, settings, has_amounts)
    scored = score_clv(
        summary,
        models["transactions"],
        models.get("spend"),
        horizon_days=float(settings["horizon_days"]),
        months=int(settings["months"]),
        monthly_discount=float(settings["monthly_discount"]),
        margin=float(settings["margin"]),
        alive_model=models["alive"],
    )
    segmented = segment_clv(
        scored, tuple(settings["value_shares"]), float(settings["alive_threshold"])
    )
    customers = summary.merge(segmented, on=CUSTOMER_ID, validate="1:1")
    segments = summarize_clv_segments(customers)
    value_label = "CLV" if has_amounts else "expected purchases"
    result = Result(
        name="clv",
        title="Customer lifetime value",
        tables={"clv_segments": segments, "clv_params": parameter_table(models)},
        details={"clv_customers": customers},
        figures={
            "clv_segments": charts.plot_segment_sizes(
                segments, value_label, value_column="clv_share", kind="CLV"
            )
        },
        metrics={
            "clv_customers": len(customers),
            "clv_total": float(customers["clv"].sum()),
            "clv_mean": float(customers["clv"].mean()),
            **{
                f"clv_{model.name}_{name}": value
                for model in unique_models(models)
                for name, value in model.params_.items()
            },
            **segment_metrics(segments),
        },
    )
    holdout = validate_holdout(purchases, cutoff, settings)
    if holdout is not None:
        add_holdout(result, holdout, settings)
    result.text = write_brief(segments, cutoff, settings, has_amounts, holdout)
    return result


def segment_metrics(segments: pd.DataFrame) -> dict[str, float]:
    """Customers and total CLV per segment, under metric-safe names (high_value_at_risk)."""
    metrics = {}
    for row in segments.itertuples():
        key = "".join(ch if ch.isalnum() else "_" for ch in row.segment).replace("__", "_")
        metrics[f"clv_{key}_customers"] = float(row.customers)
        metrics[f"clv_{key}_total"] = float(row.total_clv)
    return metrics


def check_settings(settings: Mapping[str, Any]) -> None:
    """Refuse bad settings before any data is read."""
    transactions_model(settings["transactions_model"], "analysis.clv.transactions_model")
    if settings["alive_model"] is not None:
        transactions_model(settings["alive_model"], "analysis.clv.alive_model")
    check_value_settings(
        int(settings["months"]), float(settings["monthly_discount"]), float(settings["margin"])
    )
    check_segment_settings(settings["value_shares"], float(settings["alive_threshold"]))
    days = settings["holdout_days"]
    if days is not None and int(days) < 0:
        raise ConfigError(f"analysis.clv.holdout_days must be positive or null, got {days}")


def select_purchases(events: Table, purchase_event: str) -> Table:
    """The purchase events' customer, time and (when present) amount, left where they lie."""
    columns = [CUSTOMER_ID, TIMESTAMP, *([AMOUNT] if has_column(events, AMOUNT) else [])]
    if isinstance(events, ibis.Table):
        return events.filter(events[EVENT] == purchase_event).select(*columns)
    return events.loc[events[EVENT] == purchase_event, columns]


def fit_models(summary: pd.DataFrame, settings: Mapping[str, Any], has_amounts: bool) -> dict:
    """The purchase-count model, the model giving P(alive) (the same one unless set
    otherwise) and, with amounts, the Gamma-Gamma spend model."""
    penalizer = float(settings["penalizer"])
    name = settings["transactions_model"]
    transactions = transactions_model(name)(penalizer=penalizer).fit(summary)
    alive_name = settings["alive_model"] or name
    alive = (
        transactions
        if alive_name == name
        else transactions_model(alive_name)(penalizer=penalizer).fit(summary)
    )
    models = {"transactions": transactions, "alive": alive}
    if has_amounts:
        models["spend"] = GammaGammaModel(penalizer=penalizer).fit(summary)
    return models


def unique_models(models: Mapping[str, Any]) -> list:
    """Each fitted model once (the alive model may be the transactions model)."""
    return list({id(model): model for model in models.values()}.values())


def parameter_table(models: Mapping[str, Any]) -> pd.DataFrame:
    """One row per model and parameter, with the model's log-likelihood."""
    rows = [
        {
            "model": model.name,
            "parameter": name,
            "value": value,
            "log_likelihood": model.log_likelihood_,
        }
        for model in unique_models(models)
        for name, value in model.params_.items()
    ]
    return pd.DataFrame(rows).astype({"model": "str", "parameter": "str"})


def summarize_clv_segments(customers: pd.DataFrame) -> pd.DataFrame:
    """Per segment: customers, share, CLV (mean, total, share), mean P(alive), purchases."""
    summary = (
        customers.groupby("segment")
        .agg(
            customers=(CUSTOMER_ID, "size"),
            mean_clv=("clv", "mean"),
            total_clv=("clv", "sum"),
            mean_probability_alive=("probability_alive", "mean"),
            mean_expected_purchases=("expected_purchases", "mean"),
        )
        .reset_index()
    )
    summary.insert(2, "share", summary["customers"] / summary["customers"].sum())
    total = summary["total_clv"].sum()
    summary.insert(5, "clv_share", summary["total_clv"] / total if total else 0.0)
    return summary.sort_values(["total_clv", "segment"], ascending=[False, True], ignore_index=True)


def validate_holdout(
    purchases: Table, cutoff: pd.Timestamp, settings: Mapping[str, Any]
) -> HoldoutCheck | None:
    """Refit the purchase model ``holdout_days`` before the cutoff and compare its
    predictions with the purchases that followed; None when validation is off."""
    days = settings["holdout_days"]
    if not days:
        return None
    start = cutoff - pd.Timedelta(days=int(days))
    calibration = summarize_purchases(purchases, start, holdout_end=cutoff)
    if calibration.empty:
        raise DataValidationError(
            f"no purchases before {start.date()} to fit the holdout check on: shorten "
            "analysis.clv.holdout_days or set it to null"
        )
    model = transactions_model(settings["transactions_model"])(
        penalizer=float(settings["penalizer"])
    )
    return check_holdout(calibration, model.fit(calibration))


def add_holdout(result: "Result", holdout: HoldoutCheck, settings: Mapping[str, Any]) -> None:
    """The holdout table, chart and headline metrics."""
    days = int(settings["holdout_days"])
    result.tables["clv_holdout"] = holdout.by_frequency
    result.figures["clv_holdout"] = clv_charts.plot_holdout_by_frequency(
        holdout.by_frequency, MODEL_NAMES[settings["transactions_model"]], days
    )
    result.metrics.update(
        {
            "clv_holdout_predicted": holdout.predicted_total,
            "clv_holdout_actual": holdout.actual_total,
            "clv_holdout_error": holdout.total_error,
            "clv_holdout_mae": holdout.mean_absolute_error,
        }
    )


def write_brief(
    segments: pd.DataFrame,
    cutoff: pd.Timestamp,
    settings: Mapping[str, Any],
    has_amounts: bool,
    holdout: HoldoutCheck | None,
) -> str:
    """A short Markdown brief: the segments to act on first, with their figures."""
    model = MODEL_NAMES[settings["transactions_model"]]
    months = int(settings["months"])
    value = (
        f"CLV over {months} months (Gamma-Gamma spend x margin {float(settings['margin']):g}, "
        f"discounted {float(settings['monthly_discount']):.1%} a month)"
        if has_amounts
        else f"discounted expected purchases over {months} months (the data has no amounts, "
        "so no spend model: value is the number of purchases)"
    )
    alive = MODEL_NAMES[settings["alive_model"] or settings["transactions_model"]]
    by_name = segments.set_index("segment")
    lines = [
        f"# CLV brief at {cutoff:%Y-%m-%d}",
        "",
        f"{int(segments['customers'].sum()):,} customers with a purchase, scored by {model}; "
        f"value is {value}. At risk means P(alive) from {alive} below "
        f"{float(settings['alive_threshold']):g}.",
        "",
        "## Act on",
        "",
    ]
    targets = [name for name in ACTIONS if name in by_name.index][:3]
    for rank, name in enumerate(targets, start=1):
        row = by_name.loc[name]
        lines.append(
            f"{rank}. **{name}**: {int(row['customers']):,} customers ({row['share']:.1%}), "
            f"{row['total_clv']:,.0f} of predicted value ({row['clv_share']:.1%}), "
            f"mean P(alive) {row['mean_probability_alive']:.0%}; {ACTIONS[name]}."
        )
    if holdout is not None:
        lines += [
            "",
            "## How far to trust it",
            "",
            f"Refitted {int(settings['holdout_days'])} days before the cutoff, {model} predicted "
            f"{holdout.predicted_total:,.0f} purchase days in those {int(settings['holdout_days'])}"
            f" days; {holdout.actual_total:,.0f} happened ({holdout.total_error:+.1%}), "
            f"{holdout.mean_absolute_error:.2f} purchases off per customer on average.",
        ]
    return "\n".join(lines) + "\n"
