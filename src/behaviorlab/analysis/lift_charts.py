"""Charts of the lift and power analyses: matplotlib Figures built without pyplot."""

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from behaviorlab.analysis.charts import BLUE, GREY, ORANGE, new_figure


def plot_forest(
    lifts: pd.DataFrame, title: str, scale: float = 100.0, unit: str = "points"
) -> Figure:
    """Each row's lift as a point with its interval, significant rows in orange.

    ``lifts`` has ``label``, ``lift``, ``lift_low``, ``lift_high`` and ``significant``.
    """
    figure, axes = new_figure(8.0, 0.38 * len(lifts) + 1.8)
    rows = np.arange(len(lifts))[::-1]
    colours = np.where(lifts["significant"].to_numpy(dtype=bool), ORANGE, BLUE)
    low = (lifts["lift"] - lifts["lift_low"]).to_numpy(dtype=float) * scale
    high = (lifts["lift_high"] - lifts["lift"]).to_numpy(dtype=float) * scale
    for row, centre, below, above, colour in zip(
        rows, lifts["lift"].to_numpy(dtype=float) * scale, low, high, colours, strict=True
    ):
        axes.errorbar(centre, row, xerr=[[below], [above]], fmt="o", color=colour, capsize=3)
    axes.axvline(0.0, color=GREY, linewidth=1, linestyle="--")
    axes.set_yticks(rows, lifts["label"])
    axes.set_xlabel(f"lift ({unit}; orange: significant after correction)")
    axes.set_title(title)
    return figure


def plot_group_outcomes(summary: pd.DataFrame, outcome_name: str, binary: bool) -> Figure:
    """Mean outcome per group with its normal-approximation 95% interval."""
    figure, axes = new_figure(6.5, 4.5)
    error = 1.96 * summary["std"] / np.sqrt(summary["n"])
    axes.bar(
        summary["group"],
        summary["mean"],
        yerr=error,
        color=[(BLUE, ORANGE, GREY)[i % 3] for i in range(len(summary))],
    )
    for position, (mean, n) in enumerate(zip(summary["mean"], summary["n"], strict=True)):
        text = f"{mean:.1%}" if binary else f"{mean:,.2f}"
        axes.text(position, mean / 2, f"{text}\n(n = {int(n):,})", ha="center", color="white")
    if binary:
        axes.yaxis.set_major_formatter(lambda value, _: f"{value:.0%}")
    axes.set_ylabel(outcome_name)
    axes.set_title(f"{outcome_name[:1].upper()}{outcome_name[1:]} by group")
    return figure


def plot_power_curve(curve: pd.DataFrame, unit: str, scale: float) -> Figure:
    """Minimum detectable effect against customers per group."""
    figure, axes = new_figure(7.0, 4.5)
    axes.plot(curve["n_per_group"], curve["mde"] * scale, color=BLUE, marker="o")
    axes.set_xscale("log")
    axes.set_xlabel("customers per group (control)")
    axes.set_ylabel(f"minimum detectable effect ({unit})")
    axes.set_title("Smallest effect the experiment can detect")
    axes.grid(True, alpha=0.3)
    return figure
