"""Training as a composition of small steps: split, tune, refit, calibrate, evaluate, explain."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd
from hydra.utils import instantiate
from matplotlib.figure import Figure
from sklearn.metrics import brier_score_loss, roc_auc_score

from behaviorlab.data.contract import CUSTOMER_ID, CUTOFF, LABEL
from behaviorlab.errors import BehaviorlabError
from behaviorlab.features.builder import check_trainable
from behaviorlab.modeling import plots
from behaviorlab.modeling.calibration import fit_calibrator
from behaviorlab.modeling.evaluation import bootstrap_interval, compute_metrics, lift_table
from behaviorlab.modeling.explain import (
    build_explanation,
    contributions_sample,
    sample_rows,
    shap_figures,
    shap_importance,
)
from behaviorlab.modeling.inner_folds import make_inner_folds
from behaviorlab.modeling.model import CalibratedModel, freeze_categories, prepare_features
from behaviorlab.modeling.splits import (
    NO_ROWS,
    Split,
    SplitPlan,
    make_splits,
    split_all_rows,
    summarise_split,
)
from behaviorlab.modeling.tuning import (
    TrialCallback,
    TrialCounter,
    compare_with_defaults,
    count_finished,
    enqueue_first_trials,
    fit_space_to_rows,
    open_study,
    run_study,
    suggest_params,
    trials_table,
)
from behaviorlab.processes import stops_held

INTERVAL_SEED = 0  # the test-row resamples behind the ROC AUC interval: fixed, so reruns agree
# Fold k of a trial reports its boosting steps from k * FOLD_STEPS on, so the pruner
# compares each fold with the same fold of earlier trials.
FOLD_STEPS = 1_000_000
FOLD_AUCS_ATTR = "fold_val_roc_auc"


@dataclass
class TrainingResult:
    """Everything the app logs: the model, its figures and tables, and the test predictions."""

    model: CalibratedModel
    best_params: dict[str, Any]
    metrics: dict[str, float]
    tables: dict[str, pd.DataFrame]
    figures: dict[str, Figure]
    study: optuna.Study
    split_summary: dict[str, float]
    test_frame: pd.DataFrame = field(repr=False)
    trials_reused: int
    trials_run: int
    tuning: dict[str, Any] = field(default_factory=dict)


@dataclass
class FoldFit:
    """A calibrated model fitted on one split, with its raw and calibrated test predictions."""

    model: CalibratedModel
    valid_auc: float
    test_auc: float
    test_raw: np.ndarray
    test_probability: np.ndarray


def build_estimator(model_cfg: Mapping[str, Any], params: Mapping[str, Any]):
    """The configured estimator (``_target_``) with one set of tuned hyperparameters."""
    return instantiate(model_cfg["estimator"], params=dict(params), _convert_="all")


def report_to(trial: optuna.Trial, offset: int = 0, warmup: int = 0):
    """A reporter that hands intermediate validation AUC to the pruner (steps from ``offset``);
    a fold's first ``warmup`` steps are never pruned, as the pruner spares a trial's first."""

    def report(step: int, value: float) -> None:
        with stops_held():  # a stop inside a storage write would leave it half done
            trial.report(value, offset + step)
            prune = step >= warmup and trial.should_prune()
        if prune:
            raise optuna.TrialPruned(f"pruned at step {step} with validation AUC {value:.4f}")

    return report


def make_objective(
    X: pd.DataFrame,
    y: np.ndarray,
    folds: Sequence[Split],
    model_cfg: Mapping[str, Any],
    space: Mapping[str, Mapping[str, Any]],
    warmup: int = 0,
):
    """Mean validation ROC AUC over the folds of one trial's hyperparameters; each fold
    trains on its train rows and early-stops on its own validation rows. Every fold gets
    the pruner's ``warmup`` steps: a trial is not dropped on a later fold's first trees."""
    parts = [(X.iloc[f.train], y[f.train], X.iloc[f.valid], y[f.valid]) for f in folds]

    def objective(trial: optuna.Trial) -> float:
        with stops_held():
            params = suggest_params(trial, space)
        aucs = []
        for number, (train_X, train_y, valid_X, valid_y) in enumerate(parts):
            estimator = build_estimator(model_cfg, params).fit(
                train_X,
                train_y,
                valid_X,
                valid_y,
                on_iteration=report_to(trial, number * FOLD_STEPS, warmup),
            )
            aucs.append(float(roc_auc_score(valid_y, estimator.predict_raw(valid_X))))
        with stops_held():
            trial.set_user_attr(FOLD_AUCS_ATTR, aucs)
        return float(np.mean(aucs))

    return objective


def tuning_space(
    model_cfg: Mapping[str, Any], folds: Sequence[Split], tuning_cfg: Mapping[str, Any]
) -> dict[str, Any]:
    """The model's search space, fitted to the smallest fold's training rows if asked."""
    space = dict(model_cfg["search_space"] or {})
    if not tuning_cfg.get("fit_space_to_rows", False):
        return space
    return fit_space_to_rows(space, min(len(fold.train) for fold in folds))


def first_configurations(
    model_cfg: Mapping[str, Any], tuning_cfg: Mapping[str, Any]
) -> dict[str, Any]:
    """The configurations a new study runs first for this model kind (none if not asked)."""
    if not tuning_cfg.get("enqueue_defaults", False):
        return {}
    return dict((tuning_cfg.get("first_trials") or {}).get(model_cfg["kind"]) or {})


def tune(
    X: pd.DataFrame,
    y: np.ndarray,
    folds: Sequence[Split],
    model_cfg: Mapping[str, Any],
    tuning_cfg: Mapping[str, Any],
    storage_url: str,
    study_name: str,
    callbacks: Sequence[TrialCallback],
) -> tuple[optuna.Study, int, int]:
    """Open (or resume) the study, queue the first configurations if it is new, and run the
    missing trials, each scored on every fold.

    Returns the study, the finished trials it already held (reused) and those added now (run).
    """
    study = open_study(storage_url, study_name, tuning_cfg)
    reused = count_finished(study)
    space = tuning_space(model_cfg, folds, tuning_cfg)
    enqueue_first_trials(study, first_configurations(model_cfg, tuning_cfg), space)
    counter = TrialCounter()
    warmup = int((tuning_cfg.get("pruner") or {}).get("n_warmup_steps", 0))
    objective = make_objective(X, y, folds, model_cfg, space, warmup)
    run_study(study, objective, tuning_cfg, [*callbacks, counter])
    return study, reused, counter.finished


def choose_params(study: optuna.Study, n_folds: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parameters to refit with and how tuning compared with the defaults' trial.

    The best trial's parameters, unless no trial beat the defaults (a tie included): then
    the defaults are kept, so tuning never swaps them for a configuration that only matched.
    """
    best = best_params_of(study)
    comparison = compare_with_defaults(study)
    summary = {"inner_folds": n_folds} | {
        key: value for key, value in comparison.items() if key != "defaults_params"
    }
    if comparison.get("kept_defaults"):
        return comparison["defaults_params"], summary
    return best, summary


def best_params_of(study: optuna.Study) -> dict[str, Any]:
    """The best trial's parameters; a clear error when no trial completed."""
    try:
        return dict(study.best_params)
    except ValueError as error:
        raise BehaviorlabError(
            f"study {study.study_name!r} has no completed trial; raise tuning.n_trials or "
            "tuning.timeout"
        ) from error


def auc_or_nan(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC, or NaN where it is undefined (no rows, or one class only)."""
    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan")


def fit_split(
    X: pd.DataFrame,
    y: np.ndarray,
    split: Split,
    model_cfg: Mapping[str, Any],
    params: Mapping[str, Any],
    calibration_cfg: Mapping[str, Any],
    categories: dict[str, list],
) -> FoldFit:
    """Refit with fixed hyperparameters, early-stop on valid, calibrate, score the test once.

    The calibrator is fitted on the split's own ``calibrate`` rows (other customers than the
    early-stopping rows, from the same period): early stopping chose the number of trees
    on ``valid``, so scores there are optimistic, and a calibrator fitted on them would be
    too confident on new rows. A held-out part costs one fit; cross-fitting would cost two
    and mix predictions of two different models into one calibrator.
    """
    valid_X, valid_y = X.iloc[split.valid], y[split.valid]
    estimator = build_estimator(model_cfg, params).fit(
        X.iloc[split.train], y[split.train], valid_X, valid_y
    )
    valid_raw = estimator.predict_raw(valid_X)
    calibrator = fit_calibrator(
        estimator.predict_raw(X.iloc[split.calibrate]), y[split.calibrate], calibration_cfg
    )
    model = CalibratedModel(estimator, calibrator, list(X.columns), categories, model_cfg["kind"])
    test_X = X.iloc[split.test]
    test_probability = model.predict_proba(test_X) if len(test_X) else np.empty(0)
    return FoldFit(
        model=model,
        valid_auc=auc_or_nan(valid_y, valid_raw),
        test_auc=auc_or_nan(y[split.test], test_probability),
        test_raw=model.predict_raw(test_X) if len(test_X) else np.empty(0),
        test_probability=test_probability,
    )


def pooled_test_frame(table: pd.DataFrame, splits: Sequence[Split], fits: Sequence[FoldFit]):
    """customer_id, cutoff, label and calibrated probability of every test row (all folds)."""
    rows = np.concatenate([split.test for split in splits])
    frame = table.iloc[rows][[CUSTOMER_ID, CUTOFF, LABEL]].reset_index(drop=True)
    frame["probability"] = np.concatenate([fit.test_probability for fit in fits])
    frame["raw_probability"] = np.concatenate([fit.test_raw for fit in fits])
    return frame


def summarise_splits(
    table: pd.DataFrame, plan: SplitPlan, folds: Sequence[Split]
) -> dict[str, float]:
    """Rows and label rates per part (mean fold for CV, test rows summed) and the rows the
    tuning folds saw."""
    summaries = pd.DataFrame([summarise_split(table, split) for split in plan.folds])
    summary = summaries.mean().to_dict() | {"n_splits": len(plan.folds)}
    summary["test_rows"] = int(summaries["test_rows"].sum())
    tuning = table.iloc[tuning_rows(folds).train]
    summary["tuning_rows"] = len(tuning)
    summary["tuning_customers"] = tuning[CUSTOMER_ID].nunique()
    return summary


def evaluate(
    test_frame: pd.DataFrame, fits: Sequence[FoldFit], evaluation_cfg: Mapping[str, Any]
) -> dict[str, float]:
    """Test metrics on calibrated probabilities, an interval for ROC AUC, the uncalibrated
    figures, the validation AUC and, with CV folds only, the fold AUCs.

    With CV folds, ``roc_auc`` is that of the pooled out-of-fold predictions and
    ``fold_roc_auc_mean``/``_std`` summarise the folds one by one (one fold has no spread).
    The interval resamples the test rows (``evaluation.n_boot`` times, level
    ``evaluation.ci_level``).
    """
    y = test_frame[LABEL].to_numpy()
    p = test_frame["probability"].to_numpy()
    metrics = compute_metrics(
        y,
        p,
        threshold=float(evaluation_cfg["threshold"]),
        top_k_fracs=tuple(evaluation_cfg["top_k_fracs"]),
    )
    if 0 < y.sum() < len(y):
        low, high = bootstrap_interval(
            y,
            p,
            n_boot=int(evaluation_cfg["n_boot"]),
            seed=INTERVAL_SEED,
            level=float(evaluation_cfg["ci_level"]),
        )["roc_auc"]
        metrics |= {"roc_auc_ci_low": low, "roc_auc_ci_high": high}
    metrics["roc_auc_uncalibrated"] = float(roc_auc_score(y, test_frame["raw_probability"]))
    metrics["brier_uncalibrated"] = float(brier_score_loss(y, test_frame["raw_probability"]))
    metrics["val_roc_auc"] = float(np.mean([fit.valid_auc for fit in fits]))
    if len(fits) > 1:
        metrics["fold_roc_auc_mean"] = float(np.mean([fit.test_auc for fit in fits]))
        metrics["fold_roc_auc_std"] = float(np.std([fit.test_auc for fit in fits]))
    return metrics


def evaluation_figures(test_frame: pd.DataFrame, evaluation_cfg: Mapping[str, Any], lift):
    """ROC, PR, calibration, gains and confusion figures of the test predictions."""
    y = test_frame[LABEL].to_numpy()
    p = test_frame["probability"].to_numpy()
    return {
        "roc": plots.plot_roc(y, p),
        "pr": plots.plot_pr(y, p),
        "calibration": plots.plot_calibration(
            y, test_frame["raw_probability"].to_numpy(), p, int(evaluation_cfg["n_bins"])
        ),
        "gains": plots.plot_gains(lift),
        "confusion": plots.plot_confusion(y, p, float(evaluation_cfg["threshold"])),
    }


def explain(
    model: CalibratedModel, table: pd.DataFrame, explain_cfg: Mapping[str, Any]
) -> tuple[dict[str, pd.DataFrame], dict[str, Figure]]:
    """SHAP sample, global importance and shap figures on a capped sample of rows."""
    rows = sample_rows(table, int(explain_cfg["max_rows"]), int(explain_cfg["seed"]))
    sample = contributions_sample(model, rows)
    importance = shap_importance(sample[model.feature_names])
    explanation = build_explanation(model, rows, sample)
    figures = shap_figures(
        explanation, importance, int(explain_cfg["n_dependence"]), model.categories_
    )
    tables = {
        "shap_sample": sample,
        "shap_importance": importance,
        model.estimator.importance_name: model.estimator.importance_table(),
    }
    return tables, figures


def permute_learning_labels(y: np.ndarray, split: Split, seed: int) -> np.ndarray:
    """Shuffle the labels of the split's learning rows, keeping its test labels true.

    Learning rows are train, valid and calibrate: everything the model, early stopping and
    the calibrator learn from. Under CV each fold gets its own shuffle, so a row tested in
    one fold keeps its true label there while it is shuffled where it is learnt from.
    """
    learning = np.concatenate([split.train, split.valid, split.calibrate])
    permuted = y.copy()
    permuted[learning] = np.random.default_rng(seed).permutation(y[learning])
    return permuted


def tuning_rows(folds: Sequence[Split]) -> Split:
    """Every row the tuning folds fit on or score, once, as one split's learning rows."""
    rows = np.unique(np.concatenate([np.concatenate([f.train, f.valid]) for f in folds]))
    return Split(train=rows, valid=NO_ROWS)


def labels_for(y: np.ndarray, split: Split, permute: bool, seed: int) -> np.ndarray:
    """The labels one split learns from: true, or shuffled on its learning rows."""
    return permute_learning_labels(y, split, seed) if permute else y


def train_model(
    table: pd.DataFrame,
    feature_names: Sequence[str],
    categorical_features: Sequence[str],
    model_cfg: Mapping[str, Any],
    split_cfg: Mapping[str, Any],
    tuning_cfg: Mapping[str, Any],
    calibration_cfg: Mapping[str, Any],
    evaluation_cfg: Mapping[str, Any],
    explain_cfg: Mapping[str, Any],
    storage_url: str,
    study_name: str,
    on_trial_end: TrialCallback | None = None,
    permute_labels: bool = False,
) -> TrainingResult:
    """Tune on the plan's tuning rows, refit per fold, calibrate, evaluate on test, explain.

    No row whose prediction enters a test metric is seen by tuning, early stopping or
    calibration (see ``splits``). Tuning scores each trial on ``tuning.inner_folds`` folds
    of the rows it may see (see ``inner_folds``) and keeps the defaults unless a trial beat
    them. Out-of-time: the one fold's model is the final model. Customer CV: tuning
    uses customers set aside from every test fold; metrics come from the out-of-fold
    predictions pooled over all folds, and the final model is refit on all rows (early
    stopping and calibration on customer-grouped parts held out of them).
    ``permute_labels`` shuffles the labels each fit learns from (never the test labels):
    a null baseline that a promotion gate must refuse.
    """
    check_trainable(table)
    table = table.reset_index(drop=True)
    categories = freeze_categories(table, categorical_features)
    X = prepare_features(table, feature_names, categories)
    y = table[LABEL].to_numpy().astype(int)
    plan = make_splits(table, split_cfg)
    seed = int(split_cfg["seed"])
    callbacks = [on_trial_end] if on_trial_end is not None else []
    folds = make_inner_folds(table, plan, split_cfg, int(tuning_cfg.get("inner_folds", 1)))
    study, reused, ran = tune(
        X,
        labels_for(y, tuning_rows(folds), permute_labels, seed),
        folds,
        model_cfg,
        tuning_cfg,
        storage_url,
        study_name,
        callbacks,
    )
    params, tuning_summary = choose_params(study, len(folds))
    fits = [
        fit_split(
            X,
            labels_for(y, split, permute_labels, seed + number),
            split,
            model_cfg,
            params,
            calibration_cfg,
            categories,
        )
        for number, split in enumerate(plan.folds)
    ]
    if len(fits) == 1:
        final = fits[0]
    else:
        refit = split_all_rows(table, split_cfg)
        final = fit_split(
            X,
            labels_for(y, refit, permute_labels, seed + len(fits)),
            refit,
            model_cfg,
            params,
            calibration_cfg,
            categories,
        )
    test_frame = pooled_test_frame(table, plan.folds, fits)
    metrics = evaluate(test_frame, fits, evaluation_cfg)
    lift = lift_table(
        test_frame[LABEL].to_numpy(),
        test_frame["probability"].to_numpy(),
        int(evaluation_cfg["n_bins"]),
    )
    test_rows = table.iloc[plan.test_rows()]
    explain_tables, explain_figures = explain(final.model, test_rows, explain_cfg)
    figures = evaluation_figures(test_frame, evaluation_cfg, lift) | {
        "optuna_history": plots.plot_history(study),
        "optuna_importances": plots.plot_param_importances(study),
    }
    return TrainingResult(
        model=final.model,
        best_params=params,
        metrics=metrics,
        tables={"lift": lift, "trials": trials_table(study)} | explain_tables,
        figures=figures | explain_figures,
        study=study,
        split_summary=summarise_splits(table, plan, folds),
        test_frame=test_frame[[CUSTOMER_ID, CUTOFF, LABEL, "probability"]],
        trials_reused=reused,
        trials_run=ran,
        tuning=tuning_summary,
    )
