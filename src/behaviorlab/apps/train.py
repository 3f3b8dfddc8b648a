"""behaviorlab-train: build the training table, tune, evaluate, log and register a model."""

import dataclasses
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hydra
import optuna
from omegaconf import DictConfig, OmegaConf

from behaviorlab import __version__, modeling
from behaviorlab.apps.checks import TRAIN_RULES, check_config
from behaviorlab.apps.common import (
    CONF_DIR,
    entry_point,
    exit_on_user_error,
    open_dataset,
    to_plain,
)
from behaviorlab.apps.descriptions import describe_trained_version, describe_training_run
from behaviorlab.apps.promotion import GATE_FILE, promote_version, record_not_gated
from behaviorlab.apps.schemas import register_schemas
from behaviorlab.data.contract import CUSTOMER_ID, CUTOFF, LABEL
from behaviorlab.features.builder import build_training_table, check_trainable
from behaviorlab.features.cache import FEATURES_DIR, source_hash
from behaviorlab.modeling.gate_holdout import carve_gate_holdout, rows_in_test_period
from behaviorlab.modeling.pipeline import train_model
from behaviorlab.modeling.sampling import apply_training_sample
from behaviorlab.modeling.splits import make_splits, out_of_time_periods
from behaviorlab.modeling.tuning import study_identity, study_name
from behaviorlab.scoring.drift import profile_features
from behaviorlab.scoring.predict import capacity_thresholds, tier_levels, tier_mode
from behaviorlab.scoring.reasons import reason_spec
from behaviorlab.tracking import models, runs, versions

HOLDOUT_FILE = "holdout/holdout.parquet"
PROVENANCE_FILE = "registry/provenance.json"
NOT_REGISTERED = "not registered (registry.register=false)"
TRIAL_METRIC = "val_roc_auc"  # what each Optuna trial scores: ROC AUC on the validation rows
# What "the defaults" are called in a run's description, per model kind.
DEFAULTS_NAMES = {
    "lightgbm": "LightGBM's defaults",
    "blend": "LightGBM's defaults",
    "logistic": "scikit-learn's defaults",
}
TUNING_IDENTITY_KEYS = ("inner_folds", "enqueue_defaults", "first_trials", "fit_space_to_rows")
HEADLINE_METRICS = (
    "test_roc_auc",
    "test_roc_auc_ci_low",
    "test_roc_auc_ci_high",
    "test_pr_auc",
    "test_brier",
    "val_roc_auc",
)


@entry_point
def main() -> None:
    """Console entry point: register the typed schema, then let Hydra compose and run."""
    register_schemas()
    compose_and_run()


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def compose_and_run(cfg: DictConfig) -> None:
    """Run one composed training config (one per job of a -m sweep)."""
    run(cfg)


@exit_on_user_error
def run(cfg: DictConfig) -> dict[str, Any]:
    """Train one model from a composed config; return its test metrics and registry outcome."""
    check_config(cfg, TRAIN_RULES)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dataset, table = load_training_table(cfg)
    check_trainable(table.frame)
    table, gate_rows = hold_out_gate_customers(cfg, table)
    table, sample = sample_training_rows(cfg, table)
    check_learnable(cfg, table.frame)
    tracking = to_plain(cfg.tracking)
    tags = {"task": cfg.task.name, "data": cfg.data.name, "model": cfg.model.kind}
    if cfg.permute_labels:
        tags["baseline"] = "permuted labels"
    run_name = name_run(cfg, datetime.now(UTC))
    with runs.open_run(tracking, run_name=run_name, tags=tags) as parent:
        data = describe_data(cfg, dataset, table)
        log_context(cfg, dataset, table, data)
        runs.log_params(sample.params())
        result = train_model(
            table.frame,
            table.feature_names,
            table.categorical_features,
            model_cfg=to_plain(cfg.model),
            split_cfg=to_plain(cfg.split),
            tuning_cfg=to_plain(cfg.tuning),
            calibration_cfg=to_plain(cfg.calibration),
            evaluation_cfg=to_plain(cfg.evaluation),
            explain_cfg=to_plain(cfg.explain),
            storage_url=cfg.optuna_storage,
            study_name=name_study(cfg, dataset, table),
            on_trial_end=log_trial,
            permute_labels=cfg.permute_labels,
        )
        log_result(result)
        log_gate_rows(cfg, result.model, gate_rows)
        log_study(result)
        log_tuning_gain(result)
        spec = model_spec(cfg, table, result)
        model_uri = models.log_behavior_model(result.model, spec, table.frame)
        describe(cfg, run_name, data, result, "not decided yet")
        trained = (run_name, parent.info.run_id, dataset, data)
        outcome = register_and_gate(cfg, model_uri, trained, result, table)
        describe(cfg, run_name, data, result, gate_line(cfg, outcome))
    summary = {**result.metrics, **outcome, "run_id": parent.info.run_id}
    print_summary(run_name, table, result, outcome)
    return summary


def check_learnable(cfg: DictConfig, frame) -> None:
    """Refuse an untrainable training part or an impossible split before a tracking run
    opens, so such a job leaves no run, artifact or version behind."""
    check_trainable(frame)
    make_splits(frame, to_plain(cfg.split))


def load_training_table(cfg: DictConfig, use_cache: bool = True):
    """The validated dataset and its point-in-time training table for a composed config."""
    dataset = open_dataset(cfg)
    table = build_training_table(
        dataset.events,
        dataset.customers,
        task=to_plain(cfg.task),
        features=to_plain(cfg.features),
        data_end=dataset.data_end,
        cache_dir=Path(cfg.paths.cache_dir) / "training_tables" if use_cache else None,
        fingerprint=dataset.fingerprint,
    )
    return dataset, table


def name_run(cfg: DictConfig, now: datetime) -> str:
    """``<run_name>-<data>-<yyyymmdd-HHMM>`` (UTC): runs of one experiment stay apart in the
    UI's compare views and chart legends (``run_name`` defaults to ``<task>-<model>``)."""
    return f"{cfg.run_name}-{cfg.data.name}-{now.astimezone(UTC):%Y%m%d-%H%M}"


def describe_data(cfg: DictConfig, dataset, table) -> dict[str, Any]:
    """The data a run trained on: name, fingerprint and sizes (gate customers excluded)."""
    frame = table.frame
    return {
        "name": cfg.data.name,
        "fingerprint": dataset.fingerprint,
        "rows": len(frame),
        "customers": int(frame[CUSTOMER_ID].nunique()),
        "cutoffs": int(frame[CUTOFF].nunique()),
        "cutoff_min": str(frame[CUTOFF].min()),
        "cutoff_max": str(frame[CUTOFF].max()),
        "features": len(table.feature_names),
        "label_rate": float(frame[LABEL].mean()),
        "from_cache": table.from_cache,
    }


def log_context(cfg: DictConfig, dataset, table, data: dict[str, Any]) -> None:
    """What a reviewer needs to trust the run: config, data identity, sizes, code version.

    Sizes are params (facts about the inputs), so the charts open on the test metrics.
    """
    frame = table.frame
    runs.log_text(OmegaConf.to_yaml(cfg, resolve=True), "config/resolved.yaml")
    sizes = ("rows", "customers", "cutoffs", "features", "label_rate")
    runs.log_params(
        {"data.fingerprint": dataset.fingerprint, "seed": cfg.seed}
        | {f"data.{key}": round(data[key], 6) for key in sizes}
    )
    runs.set_tags(
        {"data_fingerprint": dataset.fingerprint, "training_table_cached": table.from_cache}
        | runs.describe_environment(cfg.paths.root_dir)
        | table.timing_tags()
    )
    runs.log_input_table(frame, name=f"{cfg.data.name}-{cfg.task.name}", source=str(table.path))


def code_version() -> str:
    """The package version and a hash of the code that builds features and scores trials."""
    sources = (source_hash(FEATURES_DIR), source_hash(Path(modeling.__file__).resolve().parent))
    return ":".join((__version__, *(digest[:12] for digest in sources)))


def name_study(cfg: DictConfig, dataset, table) -> str:
    """The study for exactly this problem: resumed on a rerun, new when anything it tunes differs.

    ``tuning.fresh`` starts a new study under a timestamped name and leaves the old one intact.
    """
    identity = study_identity(
        data_fingerprint=dataset.fingerprint,
        task=to_plain(cfg.task),
        features=table.resolved_features,
        split=to_plain(cfg.split),
        model=to_plain(cfg.model),
        permute_labels=bool(cfg.permute_labels),
        seed=int(cfg.seed),
        gate_holdout_fraction=OmegaConf.select(cfg, "registry.gate.holdout_fraction"),
        gate_salt=OmegaConf.select(cfg, "registry.gate.salt"),
        code_version=code_version(),
        training_sample=to_plain(cfg.training.sample),
        tuning={key: to_plain(cfg.tuning).get(key) for key in TUNING_IDENTITY_KEYS},
    )
    fresh_at = datetime.now(UTC) if cfg.tuning.fresh else None
    return study_name(cfg.study_prefix, identity, fresh_at)


def log_study(result) -> None:
    """Which study the parameters came from and how many of its trials this run ran itself."""
    runs.set_tags(
        {
            "tuning.study": result.study.study_name,
            "tuning.trials_run": result.trials_run,
            "tuning.trials_reused": result.trials_reused,
        }
    )


def log_tuning_gain(result) -> None:
    """How much tuning gained over the defaults' trial on validation (the objective), and a
    tag saying whether the defaults were kept; nothing when the study has no defaults trial."""
    tuning = result.tuning
    runs.log_params({"tuning.inner_folds": tuning.get("inner_folds", 1)})
    if "gain_over_defaults" not in tuning:
        return
    runs.log_metrics(
        {
            "val_gain_over_defaults": tuning["gain_over_defaults"],
            "val_defaults_roc_auc": tuning["defaults_value"],
        }
    )
    runs.set_tags({"tuning.kept_defaults": str(tuning["kept_defaults"]).lower()})


def defaults_line(kind: str, tuning: dict) -> str | None:
    """The description's line on tuning against the defaults, or None without a defaults trial."""
    if "gain_over_defaults" not in tuning:
        return None
    defaults = DEFAULTS_NAMES.get(kind, f"{kind}'s defaults")
    folds = tuning["inner_folds"]
    on = f"validation ROC AUC, mean of {folds} inner folds" if folds > 1 else "validation ROC AUC"
    if tuning["kept_defaults"]:
        return (
            f"tuning did not beat {defaults} on validation; the defaults were kept "
            f"({on} {tuning['defaults_value']:.4f})"
        )
    return (
        f"tuning beat {defaults} on validation by {tuning['gain_over_defaults']:+.4f} "
        f"({on} {tuning['best_value']:.4f} against {tuning['defaults_value']:.4f})"
    )


def study_line(result) -> str:
    """The summary line that says whether the trials were run now or reused from a study."""
    name, ran, reused = result.study.study_name, result.trials_run, result.trials_reused
    if reused:
        return f"resumed study {name}: reused {reused} trials, ran {ran}"
    return f"study {name}: ran {ran} trials, reused 0"


def log_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Each Optuna trial becomes a child run with its params, value and state."""
    start = trial.datetime_start
    end = trial.datetime_complete
    runs.log_child_run(
        run_name=f"trial-{trial.number:03d}",
        params=trial.params,
        metrics={TRIAL_METRIC: trial.value} if trial.value is not None else {},
        tags={
            "optuna.study": study.study_name,
            "optuna.trial": trial.number,
            "optuna.state": trial.state.name,
        },
        start_ms=int(start.timestamp() * 1000) if start else None,
        end_ms=int(end.timestamp() * 1000) if end else None,
        status="FINISHED" if trial.state.name in {"COMPLETE", "PRUNED"} else "FAILED",
    )


def metric_names(metrics: dict[str, float]) -> dict[str, float]:
    """Result metrics under their logged names, headline first: ``val_*`` as they are, test
    figures as ``test_*``; the test row count is a size (a param), not a metric."""
    named = {
        key if key.startswith("val_") else f"test_{key}": value
        for key, value in metrics.items()
        if key != "n"
    }
    headline = {key: named[key] for key in HEADLINE_METRICS if key in named}
    return headline | {key: value for key, value in named.items() if key not in headline}


def log_result(result) -> None:
    """Metrics (headline first), sizes, best params, what the final fit chose on validation
    rows (a blend's weight, its parts' figures), plots and previewable tables."""
    named = metric_names(result.metrics)
    estimator = result.model.estimator
    runs.log_metrics({key: named[key] for key in HEADLINE_METRICS if key in named})
    runs.log_metrics({key: value for key, value in named.items() if key not in HEADLINE_METRICS})
    runs.log_metrics(estimator.validation_metrics())
    split = {f"split.{key}": round(value, 6) for key, value in result.split_summary.items()}
    runs.log_params({f"best.{k}": v for k, v in result.best_params.items()} | split)
    runs.log_params(estimator.run_params())
    for name, figure in result.figures.items():
        runs.log_figure(figure, f"plots/{name}.png")
    for name, frame in result.tables.items():
        runs.log_table(frame, f"tables/{name}.json")
    runs.log_table(result.test_frame, HOLDOUT_FILE)


def gate_line(cfg: DictConfig, outcome: dict) -> str:
    """The gate's decision as the run's description states it."""
    if not cfg.registry.register:
        return NOT_REGISTERED
    return outcome.get("decision_line", f"{outcome['model_name']} v{outcome['model_version']}")


def describe(cfg: DictConfig, run_name: str, data: dict, result, gate: str) -> None:
    """Write the run's description: headline, data, split, tuning, gate."""
    text = describe_training_run(
        run_name,
        result.metrics,
        float(cfg.evaluation.ci_level),
        data,
        (cfg.split.kind, result.split_summary),
        (result.study.study_name, result.trials_run, result.trials_reused),
        gate,
    )
    line = defaults_line(cfg.model.kind, result.tuning)
    runs.describe_run(text if line is None else f"{text}\n\n**Tuning vs defaults** {line}")


def model_spec(cfg: DictConfig, table, result) -> dict[str, Any]:
    """Everything scoring needs to rebuild the features and read the output: readable
    reasons (descriptions, medians of the label-0 training rows) and, for capacity tiers,
    the probability cut-offs at those capacities on the test predictions (for serving)."""
    scoring = to_plain(cfg.scoring)
    if tier_mode(scoring["tiers"]) == "capacity":
        probability = result.test_frame["probability"].to_numpy()
        scoring["capacity_thresholds"] = capacity_thresholds(
            probability, tier_levels(scoring["tiers"])
        )
    return {
        "task": to_plain(cfg.task),
        "features": table.resolved_features,
        "feature_names": table.feature_names,
        "categorical_features": table.categorical_features,
        "scoring": scoring,
        "reasons": reason_spec(
            table.resolved_features, table.frame, table.feature_names, to_plain(cfg.task)
        ),
        "data": cfg.data.name,
        "profile": profile_features(table.frame, table.feature_names),
    }


def hold_out_gate_customers(cfg: DictConfig, table):
    """The training table without the gate customers, and the gate rows the gate scores.

    Done before anything learns from the table, so no split, trial, early stop or
    calibration ever sees a gate customer (see modeling/gate_holdout.py).
    """
    gate = cfg.registry.gate
    train_frame, gate_frame = carve_gate_holdout(
        table.frame, float(gate.holdout_fraction), str(gate.salt)
    )
    test_start = (
        out_of_time_periods(table.frame, to_plain(cfg.split)).test_start
        if cfg.split.kind == "out_of_time"
        else None
    )
    gate_rows = rows_in_test_period(gate_frame, test_start)
    return dataclasses.replace(table, frame=train_frame), gate_rows


def sample_training_rows(cfg: DictConfig, table):
    """The training table within ``training.sample`` (whole customers, stratified by label).

    Applied after the gate customers are carved out, to the rows that remain: the gate's
    rows are never sampled away, and a sample bounds only what reaches the learner.
    """
    frame, record = apply_training_sample(table.frame, to_plain(cfg.training.sample))
    return dataclasses.replace(table, frame=frame), record


def log_gate_rows(cfg: DictConfig, model, gate_rows) -> None:
    """The challenger's probabilities on its gate rows: what the gate compares on."""
    scored = gate_rows[[CUSTOMER_ID, CUTOFF, LABEL]].copy()
    scored["probability"] = model.predict_proba(gate_rows[model.feature_names])
    runs.log_table(scored, GATE_FILE)
    runs.set_tags(holdout_tags(cfg))
    runs.log_params({"gate.rows": len(scored), "gate.customers": scored[CUSTOMER_ID].nunique()})


def holdout_tags(cfg: DictConfig) -> dict[str, str]:
    """The gate holdout a job excluded: the gate verifies two versions share it."""
    gate = cfg.registry.gate
    return {
        "gate_holdout.salt": str(gate.salt),
        "gate_holdout.fraction": str(gate.holdout_fraction),
    }


def provenance(cfg: DictConfig, run_id: str, data: dict, table) -> dict[str, str]:
    """What a version was trained on: logged beside the run's model as one JSON file."""
    names = json.dumps(list(table.feature_names)).encode()
    return {
        "run_id": run_id,
        "data_fingerprint": data["fingerprint"],
        "data": cfg.data.name,
        "task": cfg.task.name,
        "cutoff_min": data["cutoff_min"],
        "cutoff_max": data["cutoff_max"],
        "feature_names_hash": hashlib.sha256(names).hexdigest()[:16],
        **holdout_tags(cfg),
    }


def version_tags(cfg: DictConfig, data: dict, metrics: dict[str, float]) -> dict[str, str]:
    """The few tags a version carries: what the gate reads, and the headline figure.

    The gate adds ``gate.decision``, ``gate.reason`` and, on promotion,
    ``previous_champion``; everything else is in the description and the provenance file.
    """
    return {
        "data_fingerprint": data["fingerprint"],
        **holdout_tags(cfg),
        "test_roc_auc": str(round(metrics["roc_auc"], 6)),
    }


def register_and_gate(cfg: DictConfig, model_uri: str, trained: tuple, result, table) -> dict:
    """Register the model as a new version with its provenance, then gate it (or say why not).

    ``trained`` is the run's (name, id, dataset, data description).
    """
    registry = cfg.registry
    if not registry.register:
        return {}
    run_name, run_id, dataset, data = trained
    runs.log_dict(provenance(cfg, run_id, data, table), PROVENANCE_FILE)
    version = models.register_model(
        model_uri, registry.model_name, version_tags(cfg, data, result.metrics)
    )
    level = float(cfg.evaluation.ci_level)
    versions.describe_version(
        registry.model_name,
        version,
        describe_trained_version(run_name, run_id, result.metrics, level, data, PROVENANCE_FILE),
    )
    outcome = {"model_name": registry.model_name, "model_version": version}
    if registry.promote_after_training:
        return outcome | promote_version(cfg, registry.model_name, version, dataset=dataset)
    reason = "registry.promote_after_training=false; gate it with behaviorlab-promote"
    return outcome | record_not_gated(registry.model_name, version, reason)


def print_summary(run_name: str, table, result, outcome: dict) -> None:
    """One short block a person reads at the end of a job."""
    metrics = result.metrics
    cached = " (training table from cache)" if table.from_cache else ""
    print(
        f"trained {run_name} on {len(table.frame):,} snapshots{cached}: "
        f"test ROC AUC {metrics['roc_auc']:.3f}, PR AUC {metrics['pr_auc']:.3f}, "
        f"Brier {metrics['brier']:.4f}"
    )
    print(study_line(result))
    line = defaults_line(result.model.kind, result.tuning)
    if line is not None:
        print(line)
    if not outcome:
        print(NOT_REGISTERED)
        return
    print(
        f"registered {outcome['model_name']} v{outcome['model_version']}"
        + (f"; {outcome['decision_line']}" if "decision_line" in outcome else "")
    )


if __name__ == "__main__":
    main()
