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
