"""Evaluation and tuning figures, returned as matplotlib Figures for the app to log."""

import numpy as np
import optuna
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from behaviorlab.modeling.tuning import completed_trials

SIZE = (6.4, 4.8)
MIN_TRIALS_FOR_IMPORTANCE = 2


def new_axes(title: str, xlabel: str, ylabel: str) -> tuple[Figure, Axes]:
    """A figure outside pyplot's registry (nothing to close) with a titled, labelled axes."""
    figure = Figure(figsize=SIZE, layout="constrained")
    axes = figure.subplots()
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    return figure, axes


def plot_roc(y: np.ndarray, p: np.ndarray) -> Figure:
    """ROC curve with its AUC and the chance diagonal."""
    figure, axes = new_axes("ROC curve (test)", "False positive rate", "True positive rate")
    fpr, tpr, _ = roc_curve(y, p)
    axes.plot(fpr, tpr, label=f"model (AUC = {roc_auc_score(y, p):.3f})")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    axes.legend(loc="lower right")
    return figure


def plot_pr(y: np.ndarray, p: np.ndarray) -> Figure:
    """Precision-recall curve with average precision and the base rate."""
    figure, axes = new_axes("Precision-recall curve (test)", "Recall", "Precision")
    precision, recall, _ = precision_recall_curve(y, p)
    axes.plot(recall, precision, label=f"model (AP = {average_precision_score(y, p):.3f})")
    axes.axhline(np.mean(y), linestyle="--", color="grey", label=f"base rate {np.mean(y):.3f}")
    axes.set_ylim(0, 1.02)
    axes.legend(loc="upper right")
    return figure


def plot_calibration(y: np.ndarray, p_raw: np.ndarray, p_calibrated: np.ndarray, n_bins: int):
    """Reliability curve before and after calibration against the diagonal."""
    figure, axes = new_axes(
        "Calibration (test)", "Mean predicted probability", "Observed positive rate"
    )
    for label, p in (("uncalibrated", p_raw), ("calibrated", p_calibrated)):
        observed, predicted = calibration_curve(y, p, n_bins=n_bins, strategy="quantile")
        axes.plot(predicted, observed, marker="o", label=label)
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    axes.legend(loc="upper left")
    return figure


def plot_gains(lift: pd.DataFrame) -> Figure:
    """Cumulative gains by share of customers contacted, with lift per bin on a second axis."""
    figure, axes = new_axes(
        "Cumulative gains and lift (test)",
        "Share of customers (ranked by score)",
        "Share of positives captured",
    )
    share = np.r_[0.0, lift["cumulative_n_share"]]
    axes.plot(share, np.r_[0.0, lift["cumulative_gain"]], marker="o", label="model")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random")
    lift_axes = axes.twinx()
    bin_share = lift["n"] / lift["n"].sum()
    lift_axes.bar(
        lift["cumulative_n_share"] - bin_share / 2,
        lift["lift"],
        width=0.8 * bin_share,
        alpha=0.3,
        color="tab:orange",
        label="lift per bin",
    )
    lift_axes.set_ylabel("Lift")
    handles = axes.get_legend_handles_labels()
    extra = lift_axes.get_legend_handles_labels()
    axes.legend(handles[0] + extra[0], handles[1] + extra[1], loc="center right")
    return figure


def plot_confusion(y: np.ndarray, p: np.ndarray, threshold: float) -> Figure:
    """Counts of true/false positives/negatives when flagging at the threshold."""
    figure, axes = new_axes(f"Confusion matrix at threshold {threshold:.2f}", "Predicted", "Actual")
    matrix = confusion_matrix(y, (p >= threshold).astype(int), labels=[0, 1])
    axes.imshow(matrix, cmap="Blues")
    for (row, column), count in np.ndenumerate(matrix):
        colour = "white" if count > matrix.max() / 2 else "black"
        axes.text(column, row, f"{count:,}", ha="center", va="center", color=colour, fontsize=14)
    axes.set_xticks([0, 1], ["negative", "positive"])
    axes.set_yticks([0, 1], ["negative", "positive"])
    return figure


def plot_history(study: optuna.Study) -> Figure:
    """Objective value of each completed trial and the best so far."""
    figure, axes = new_axes("Optuna optimisation history", "Trial", "Validation ROC AUC")
    trials = completed_trials(study)
    numbers = [trial.number for trial in trials]
    values = np.array([trial.value for trial in trials])
    axes.scatter(numbers, values, label="trial")
    if len(values):
        axes.step(
            numbers,
            np.maximum.accumulate(values),
            where="post",
            color="tab:red",
            label="best so far",
        )
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(loc="lower right")
    return figure


def plot_param_importances(study: optuna.Study) -> Figure:
    """Hyperparameter importances; a note instead when too few trials completed."""
    figure, axes = new_axes("Optuna hyperparameter importances", "Importance", "Parameter")
    if len(completed_trials(study)) < MIN_TRIALS_FOR_IMPORTANCE:
        axes.text(
            0.5,
            0.5,
            "needs at least 2 completed trials",
            ha="center",
            va="center",
            transform=axes.transAxes,
        )
        return figure
    importances = optuna.importance.get_param_importances(study)
    names = list(importances)[::-1]
    axes.barh(names, [importances[name] for name in names])
    return figure
