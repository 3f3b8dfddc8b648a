"""The comparison page: overlaid curves of several runs and one self-contained HTML file
(figures embedded as base64 PNG, so it opens anywhere and stays whole as an artifact)."""

import base64
import html
import io
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score
from sklearn.metrics import roc_curve as roc_points

from behaviorlab.data.contract import LABEL
from behaviorlab.modeling.compare import PairDifference, SharedRows
from behaviorlab.modeling.plots import new_axes

METRIC_WORDS = {"roc_auc": "ROC AUC", "pr_auc": "PR AUC", "brier": "Brier"}
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.note { color: #555; }
img { max-width: 32%; min-width: 300px; }
"""


def overlay_roc(rows: SharedRows, labels: Sequence[str]) -> Figure:
    """Every run's ROC curve on the same rows."""
    figure, axes = new_axes("ROC curves (shared rows)", "False positive rate", "True positive rate")
    y = rows.frame[LABEL].to_numpy()
    for label in labels:
        p = rows.frame[label].to_numpy()
        fpr, tpr, _ = roc_points(y, p)
        axes.plot(fpr, tpr, label=f"{label} (AUC = {roc_auc_score(y, p):.3f})")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    axes.legend(loc="lower right", fontsize="small")
    return figure


def overlay_pr(rows: SharedRows, labels: Sequence[str]) -> Figure:
    """Every run's precision-recall curve on the same rows, with the base rate."""
    figure, axes = new_axes("Precision-recall curves (shared rows)", "Recall", "Precision")
    y = rows.frame[LABEL].to_numpy()
    for label in labels:
        p = rows.frame[label].to_numpy()
        precision, recall, _ = precision_recall_curve(y, p)
        axes.plot(recall, precision, label=f"{label} (AP = {average_precision_score(y, p):.3f})")
    axes.axhline(np.mean(y), linestyle="--", color="grey", label=f"base rate {np.mean(y):.3f}")
    axes.set_ylim(0, 1.02)
    axes.legend(loc="upper right", fontsize="small")
    return figure


def overlay_calibration(rows: SharedRows, labels: Sequence[str], n_bins: int) -> Figure:
    """Every run's reliability curve (quantile bins) on the same rows."""
    figure, axes = new_axes(
        "Calibration (shared rows)", "Mean predicted probability", "Observed positive rate"
    )
    y = rows.frame[LABEL].to_numpy()
    for label in labels:
        observed, predicted = calibration_curve(
            y, rows.frame[label].to_numpy(), n_bins=n_bins, strategy="quantile"
        )
        axes.plot(predicted, observed, marker="o", label=label)
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    axes.legend(loc="upper left", fontsize="small")
    return figure


def draw_curves(rows: SharedRows, labels: Sequence[str], n_bins: int) -> dict[str, Figure]:
    """The overlaid curves, or none when the rows cannot draw them (none, one class)."""
    if rows.source is None or rows.frame[LABEL].nunique() < 2:
        return {}
    return {
        "ROC": overlay_roc(rows, labels),
        "Precision-recall": overlay_pr(rows, labels),
        "Calibration": overlay_calibration(rows, labels, n_bins),
    }


def embed_png(figure: Figure) -> str:
    """The figure as a base64 PNG ``data:`` URI."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def format_difference(found: Mapping[str, float]) -> str:
    return f"{found['point']:+.4f} [{found['low']:+.4f}, {found['high']:+.4f}]"


def difference_table(pairs: Sequence[PairDifference], baseline: str, level: float) -> str:
    """Rows: each run against the baseline; a pair without shared rows says so."""
    head = "".join(f"<th>Δ {METRIC_WORDS[name]}</th>" for name in METRIC_WORDS)
    body = []
    for pair in pairs:
        cells = f"<td>{html.escape(pair.label)}</td>"
        if pair.differences is None:
            reason = (
                f"no rows shared with {baseline}: no difference"
                if pair.rows.source is None
                else "the shared rows hold a single class: no difference"
            )
            cells += f'<td colspan="{len(METRIC_WORDS)}">{html.escape(reason)}</td>'
        else:
            cells += "".join(
                f"<td>{format_difference(pair.differences[name])}</td>" for name in METRIC_WORDS
            )
        cells += f"<td>{html.escape(pair.rows.describe())}</td>"
        body.append(f"<tr>{cells}</tr>")
    return (
        f"<p>Run minus baseline <b>{html.escape(baseline)}</b>, point [{level:.0%} paired "
        "bootstrap interval] on the rows both runs hold out; higher is better for ROC AUC and "
        "PR AUC, lower for Brier.</p>"
        f"<table><tr><th>run</th>{head}<th>rows used</th></tr>{''.join(body)}</table>"
    )


def build_page(
    title: str,
    table: pd.DataFrame,
    pairs: Sequence[PairDifference],
    level: float,
    curve_rows: SharedRows,
    figures: Mapping[str, Figure],
) -> str:
    """The whole page as one HTML string."""
    baseline = str(table["run"].iloc[0])
    metrics = table.to_html(index=False, float_format=lambda v: f"{v:.4f}", na_rep="–")
    if figures:
        curves = f'<p class="note">Rows all runs share: {html.escape(curve_rows.describe())}.</p>'
        curves += "".join(
            f'<img alt="{html.escape(name)}" src="{embed_png(figure)}">'
            for name, figure in figures.items()
        )
    else:
        curves = '<p class="note">The runs share no rows with both classes: no curves.</p>'
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        "<h2>Metrics each run logged (its own test rows)</h2>"
        f"{metrics}"
        "<h2>Paired difference against the baseline</h2>"
        f"{difference_table(pairs, baseline, level)}"
        f"<h2>Curves</h2>{curves}</body></html>"
    )
