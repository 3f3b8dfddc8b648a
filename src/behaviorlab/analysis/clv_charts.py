"""Charts of the CLV analysis: matplotlib Figures built without pyplot (no global state)."""

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from behaviorlab.analysis.charts import BLUE, ORANGE, new_figure


def plot_holdout_by_frequency(table: pd.DataFrame, model: str, holdout_days: int) -> Figure:
    """Mean predicted vs actual holdout purchases per calibration frequency (the classic
    check of a purchase-count model)."""
    figure, axes = new_figure(8, 5)
    positions = np.arange(len(table))
    axes.plot(positions, table["actual"], marker="o", color=BLUE, label="actual")
    axes.plot(positions, table["predicted"], marker="s", ls="--", color=ORANGE, label=model)
    labels = [
        f"{frequency}\n(n={customers:,})"
        for frequency, customers in zip(table["frequency"], table["customers"], strict=True)
    ]
    axes.set_xticks(positions, labels, fontsize=8)
    axes.set_xlabel("repeat purchase days in calibration")
    axes.set_ylabel(f"mean purchase days in the {holdout_days}-day holdout")
    axes.set_title("Holdout check: predicted vs actual purchases by calibration frequency")
    axes.legend()
    axes.grid(alpha=0.3)
    return figure


def plot_clv_segments(summary: pd.DataFrame, value_label: str) -> Figure:
    """Share of customers and of predicted value per CLV segment."""
    ordered = summary.sort_values("clv_share")
    figure, axes = new_figure(8.5, 0.45 * len(ordered) + 1.8)
    rows = np.arange(len(ordered))
    axes.barh(rows + 0.2, ordered["share"], height=0.4, color=BLUE, label="share of customers")
    axes.barh(
        rows - 0.2, ordered["clv_share"], height=0.4, color=ORANGE, label=f"share of {value_label}"
    )
    for row, (share, value) in enumerate(zip(ordered["share"], ordered["clv_share"], strict=True)):
        axes.text(share + 0.005, row + 0.2, f"{share:.0%}", va="center", fontsize=8)
        axes.text(value + 0.005, row - 0.2, f"{value:.0%}", va="center", fontsize=8)
    axes.set_yticks(rows, ordered["segment"])
    axes.set_xlabel("share")
    axes.xaxis.set_major_formatter(lambda value, _: f"{value:.0%}")
    axes.set_xlim(0, max(ordered["share"].max(), ordered["clv_share"].max()) * 1.15)
    axes.set_title(f"CLV segments: customers and {value_label}")
    axes.legend(loc="lower right")
    return figure
