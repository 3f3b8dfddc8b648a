"""behaviorlab-clv: fit a customer lifetime value model on the purchases before a cutoff,
check it on a holdout when asked, log it as one MLflow run and register it."""

from typing import Any

import hydra
import pandas as pd
from omegaconf import DictConfig

from behaviorlab.apps.checks import CLV_RULES, check_config
from behaviorlab.apps.common import (
    CONF_DIR,
    entry_point,
    exit_on_user_error,
    open_dataset,
    to_plain,
)
from behaviorlab.apps.schemas import register_schemas
from behaviorlab.errors import ConfigError, DataValidationError
from behaviorlab.modeling.clv import (
    HoldoutCheck,
    check_holdout,
    summarize_purchases,
    transactions_model,
)
from behaviorlab.scoring.batch import default_cutoff
from behaviorlab.scoring.customer_value import (
    FittedClv,
    fit_clv,
    purchases_of,
)
from behaviorlab.tracking import clv_models, models, runs

HOLDOUT_TABLE = "holdout/by_frequency.csv"


@exit_on_user_error
def run(cfg: DictConfig) -> dict[str, Any]:
    """Fit, check on the holdout, log and register; return the metrics and the version.

    Config values are checked before any data is read; the purchases stay a lazy table
    that the engine reduces to one summary row per customer.
    """
    check_config(cfg, CLV_RULES)
    tracking = to_plain(cfg.tracking)
    runs.configure(tracking["tracking_uri"])
    dataset = open_dataset(cfg)
    if dataset.events is None:
        raise ConfigError("customer lifetime value needs an event log; this data has none")
    purchases = purchases_of(dataset.events, list(cfg.purchase_events))
    cutoff = pd.Timestamp(cfg.cutoff) if cfg.cutoff else default_cutoff(dataset.events)
    settings = value_settings(cfg)
    checked = check_on_holdout(cfg, purchases, cutoff) if cfg.holdout_days else None
    summary = summarize_purchases(purchases, cutoff)
    if summary.empty:
        raise DataValidationError(
            f"no purchase ({', '.join(cfg.purchase_events)}) before the cutoff {cutoff:%Y-%m-%d}"
        )
    fitted = fit_clv(
        summary,
        str(cfg.transactions_model),
        settings,
        penalizer=float(cfg.penalizer),
        spend_penalizer=float(cfg.spend_penalizer),
    )
    metrics = fitted_metrics(fitted, summary) | holdout_metrics(checked)
    name = str(cfg.registered_model)
    tags = {"kind": "clv", "data": dataset.name, "transactions_model": fitted.kind}
    with runs.open_run(tracking, cfg.run_name, tags, cfg.experiment_name):
        runs.log_params(run_params(cfg, settings, cutoff, dataset.fingerprint))
        runs.log_metrics(metrics)
        if checked is not None:
            runs.log_table(checked.by_frequency, HOLDOUT_TABLE)
        model_uri = clv_models.log_clv_model(fitted, summary)
        version_tags = {"data_fingerprint": dataset.fingerprint, "cutoff": f"{cutoff:%Y-%m-%d}"}
        version = models.register_model(model_uri, name, version_tags | tags)
        if cfg.alias:
            models.set_alias(name, str(cfg.alias), version)
    print_summary(fitted, cutoff, metrics, name, version, cfg.alias)
    return metrics | {
        "registered_model": name,
        "version": version,
        "alias": cfg.alias,
        "model_uri": model_uri,
        "cutoff": str(cutoff),
    }


def check_on_holdout(cfg: DictConfig, purchases, cutoff: pd.Timestamp) -> HoldoutCheck:
    """Refit the transactions model ``holdout_days`` before the cutoff and compare its
    customers' predicted purchase days up to the cutoff with the actual ones."""
    days = int(cfg.holdout_days)
    start = cutoff - pd.Timedelta(days=days)
    calibration = summarize_purchases(purchases, start, holdout_end=cutoff)
    if calibration.empty:
        raise DataValidationError(
            f"holdout_days={days}: no purchase before the holdout start {start:%Y-%m-%d}"
        )
    model = transactions_model(str(cfg.transactions_model))(penalizer=float(cfg.penalizer))
    return check_holdout(calibration, model.fit(calibration))


def holdout_metrics(checked: HoldoutCheck | None) -> dict[str, float]:
    """The holdout's headline figures (none without a holdout)."""
    if checked is None:
        return {}
    return {
        "holdout.predicted_purchases": checked.predicted_total,
        "holdout.actual_purchases": checked.actual_total,
        "holdout.error_pct": 100 * checked.total_error,
        "holdout.mae": checked.mean_absolute_error,
        "holdout.customers": float(checked.by_frequency["customers"].sum()),
    }


def fitted_metrics(fitted: FittedClv, summary: pd.DataFrame) -> dict[str, float]:
    """The customers fitted on, both models' parameters and the value they give."""
    scored = fitted.predict(summary)
    return (
        {
            "customers": float(len(summary)),
            "repeat_customers": float((summary["frequency"] > 0).sum()),
            "clv_total": float(scored["clv"].sum()),
            "clv_mean": float(scored["clv"].mean()),
            "probability_alive_mean": float(scored["probability_alive"].mean()),
            "expected_purchases_total": float(scored["expected_purchases"].sum()),
        }
        | {f"transactions.{k}": float(v) for k, v in fitted.transactions.params_.items()}
        | {f"spend.{k}": float(v) for k, v in fitted.spend.params_.items()}
    )


def value_settings(cfg: DictConfig) -> dict[str, Any]:
    """The settings that travel with the model: how its parameters become a value."""
    return {
        "horizon_days": int(cfg.horizon_days),
        "months": int(cfg.months),
        "monthly_discount": float(cfg.monthly_discount),
        "margin": float(cfg.margin),
        "purchase_events": [str(name) for name in cfg.purchase_events],
    }


def run_params(cfg: DictConfig, settings, cutoff: pd.Timestamp, fingerprint: str) -> dict[str, Any]:
    """What the model was fitted on and with."""
    keys = ("transactions_model", "penalizer", "spend_penalizer", "holdout_days")
    return (
        {key: cfg[key] for key in keys}
        | settings
        | {
            "cutoff": f"{cutoff:%Y-%m-%d}",
            "data_fingerprint": fingerprint,
            "engine": cfg.engine.kind,
        }
    )


def print_summary(fitted, cutoff, metrics, name, version, alias) -> None:
    """The fit, the holdout check, the value and the registered version, in a few lines."""
    settings = fitted.settings
    print(
        f"fitted {fitted.kind} + gamma-gamma on {metrics['customers']:,.0f} customers "
        f"({metrics['repeat_customers']:,.0f} repeat buyers) before {cutoff:%Y-%m-%d}"
    )
    if "holdout.actual_purchases" in metrics:
        print(
            f"  holdout: predicted {metrics['holdout.predicted_purchases']:,.1f} purchase days, "
            f"actual {metrics['holdout.actual_purchases']:,.0f} "
            f"({metrics['holdout.error_pct']:+.1f} %), "
            f"MAE {metrics['holdout.mae']:.3f} per customer"
        )
    print(
        f"  clv over {settings['months']} months: total {metrics['clv_total']:,.1f}, "
        f"mean {metrics['clv_mean']:,.2f}; mean probability alive "
        f"{metrics['probability_alive_mean']:.3f}"
    )
    moved = f" (alias {alias})" if alias else ""
    print(f"registered {name} v{version}{moved}")


@entry_point
def main() -> None:
    """Console entry point: register the typed schemas, then let Hydra compose and run."""
    register_schemas()
    compose_and_run()


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="clv")
def compose_and_run(cfg: DictConfig) -> None:
    """Fit and register with one composed config."""
    run(cfg)


if __name__ == "__main__":
    main()
