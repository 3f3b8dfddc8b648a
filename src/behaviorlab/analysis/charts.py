"""Charts for the analyses: matplotlib Figures built without pyplot (no global state)."""

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from behaviorlab.analysis.cohorts import CohortComparison

BLUE = "#2f6690"
ORANGE = "#d9822b"
GREY = "#8c8c8c"


def new_figure(width: float = 8.0, height: float = 5.0) -> tuple[Figure, object]:
    """A figure with one axes, a white background and room for labels."""
    figure = Figure(figsize=(width, height), dpi=110, layout="constrained")
    return figure, figure.add_subplot()


def annotate_cells(axes, values: np.ndarray, texts: np.ndarray, threshold: float) -> None:
    """Write each cell's text, white on dark cells and black on light ones."""
    for (row, col), text in np.ndenumerate(texts):
        if text:
            colour = "white" if values[row, col] > threshold else "black"
            axes.text(col, row, text, ha="center", va="center", fontsize=8, color=colour)


def plot_rf_grid(grid: pd.DataFrame) -> Figure:
    """Customers per recency x frequency score cell."""
    figure, axes = new_figure(6.5, 5.5)
    values = grid.to_numpy(dtype=float)
    image = axes.imshow(values, cmap="Blues")
    axes.set_xticks(range(grid.shape[1]), grid.columns)
    axes.set_yticks(range(grid.shape[0]), grid.index)
    axes.set_xlabel("Frequency score (5 = most purchase occasions)")
    axes.set_ylabel("Recency score (5 = most recent)")
    axes.set_title("RFM: customers per recency x frequency score")
    texts = np.vectorize(lambda v: f"{int(v):,}")(values)
    annotate_cells(axes, values, texts, values.max() * 0.6)
    figure.colorbar(image, ax=axes, label="customers", shrink=0.8)
    return figure


def plot_segment_sizes(
    summary: pd.DataFrame,
    value_label: str = "revenue",
    value_column: str = "revenue_share",
    kind: str = "RFM",
) -> Figure:
    """Share of customers and of value per segment (RFM or CLV), largest value first."""
    ordered = summary.sort_values(value_column)
    figure, axes = new_figure(8.5, 0.45 * len(ordered) + 1.8)
    rows = np.arange(len(ordered))
    axes.barh(rows + 0.2, ordered["share"], height=0.4, color=BLUE, label="share of customers")
    axes.barh(
        rows - 0.2,
        ordered[value_column],
        height=0.4,
        color=ORANGE,
        label=f"share of {value_label}",
    )
    for row, (share, value) in enumerate(zip(ordered["share"], ordered[value_column], strict=True)):
        axes.text(share + 0.005, row + 0.2, f"{share:.0%}", va="center", fontsize=8)
        axes.text(value + 0.005, row - 0.2, f"{value:.0%}", va="center", fontsize=8)
    axes.set_yticks(rows, ordered["segment"])
    axes.set_xlabel("share")
    axes.xaxis.set_major_formatter(lambda value, _: f"{value:.0%}")
    axes.set_xlim(0, max(ordered["share"].max(), ordered[value_column].max()) * 1.15)
    axes.set_title(f"{kind} segments: customers and {value_label}")
    axes.legend(loc="lower right")
    return figure


def plot_retention_heatmap(matrix: pd.DataFrame, title: str, period: str) -> Figure:
    """Cohort x period retention rates, as percentages in the cells."""
    values = matrix.to_numpy(dtype=float)
    figure, axes = new_figure(
        max(6.0, 0.55 * matrix.shape[1] + 2.5), max(3.0, 0.35 * matrix.shape[0] + 1.8)
    )
    image = axes.imshow(np.ma.masked_invalid(values), cmap="YlGnBu", vmin=0, vmax=1, aspect="auto")
    axes.set_xticks(range(matrix.shape[1]), matrix.columns)
    axes.set_yticks(range(matrix.shape[0]), matrix.index)
    axes.set_xlabel(f"{period}s since the cohort's start")
    axes.set_ylabel("cohort")
    axes.set_title(title)
    if matrix.shape[1] <= 16 and matrix.shape[0] <= 30:
        texts = np.where(np.isnan(values), "", np.vectorize(lambda v: f"{v:.0%}")(values))
        annotate_cells(axes, values, texts, 0.55)
    colorbar = figure.colorbar(image, ax=axes, label="retained", shrink=0.8)
    colorbar.formatter = lambda value, _: f"{value:.0%}"
    return figure


def plot_retention_curves(
    table: pd.DataFrame, value: str, title: str, period: str, max_cohorts: int = 8
) -> Figure:
    """Retention per period for the latest cohorts, with the customer-weighted average."""
    figure, axes = new_figure()
    cohorts = sorted(table["cohort"].unique())[-max_cohorts:]
    colours = colormaps["viridis"](np.linspace(0, 0.9, len(cohorts)))
    for cohort, colour in zip(cohorts, colours, strict=True):
        rows = table[table["cohort"] == cohort]
        axes.plot(rows["period"], rows[value], color=colour, alpha=0.7, lw=1.2, label=str(cohort))
    counts = "returned" if value == "rate" else "returned_or_later"
    total = table.groupby("period")[["customers", counts]].sum()
    axes.plot(
        total.index, total[counts] / total["customers"], color="black", lw=2.5, label="all cohorts"
    )
    axes.set_xlabel(f"{period}s since the cohort's start")
    axes.set_ylabel("share of cohort retained")
    axes.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    axes.set_ylim(0, 1.02)
    axes.set_title(title)
    axes.legend(title=f"cohort (latest {len(cohorts)})", fontsize=8, ncols=2, loc="upper right")
    axes.grid(alpha=0.3)
    return figure


def plot_cohort_comparison(
    table: pd.DataFrame, comparison: CohortComparison, period: str
) -> Figure:
    """Two behavioural cohorts' retention curves, with the tested period marked."""
    figure, axes = new_figure()
    value = comparison.measure
    for cohort, colour in ((comparison.cohort_a, BLUE), (comparison.cohort_b, ORANGE)):
        rows = table[table["cohort"] == cohort]
        size = int(rows["cohort_size"].iloc[0]) if len(rows) else 0
        axes.plot(
            rows["period"], rows[value], marker="o", color=colour, label=f"{cohort} (n={size:,})"
        )
    axes.axvline(comparison.period, color=GREY, ls="--", lw=1)
    axes.annotate(
        f"{period} {comparison.period}: difference {comparison.difference:+.1%}\n"
        f"{comparison.confidence:.0%} CI [{comparison.ci_low:+.1%}, {comparison.ci_high:+.1%}],"
        f" p = {comparison.p_value:.3g}",
        xy=(comparison.period, 0.97),
        xycoords=("data", "axes fraction"),
        xytext=(6, 0),
        textcoords="offset points",
        va="top",
        fontsize=9,
        bbox={"boxstyle": "round", "fc": "white", "ec": GREY},
    )
    axes.set_xlabel(f"{period}s since the customer's start")
    what = "returned in the period" if value == "rate" else "returned in the period or later"
    axes.set_ylabel(f"share {what}")
    axes.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    axes.set_ylim(0, 1.02)
    axes.set_title("Retention of two behavioural cohorts")
    axes.legend(loc="lower left")
    axes.grid(alpha=0.3)
    return figure


def plot_funnel(summary: pd.DataFrame, title: str, unit: str = "users") -> Figure:
    """Horizontal funnel: units per step, overall and step conversion written on the bars."""
    figure, axes = new_figure(9, 0.6 * len(summary) + 1.8)
    rows = np.arange(len(summary))[::-1]
    widest = summary["entered"].max() or 1
    axes.barh(rows, summary["entered"], color=BLUE, height=0.7)
    for row, entered, overall, step in zip(
        rows,
        summary["entered"],
        summary["overall_conversion"],
        summary["step_conversion"],
        strict=True,
    ):
        label = f"{entered:,}  ({overall:.1%} of start"
        label += ")" if row == rows[0] else f", {step:.1%} of previous)"
        axes.text(entered + widest * 0.01, row, label, va="center", fontsize=9)
    axes.set_yticks(rows, summary["step"])
    axes.set_xlim(0, widest * 1.55)
    axes.set_xlabel(unit)
    axes.set_title(title)
    return figure


def plot_funnel_breakdown(summary: pd.DataFrame, by: str) -> Figure:
    """Overall conversion at each step, one line per group of ``by``."""
    figure, axes = new_figure(9, 5)
    steps = summary.drop_duplicates("step_number").sort_values("step_number")
    for group, rows in summary.groupby(by, dropna=False):
        start = int(rows["entered"].iloc[0])
        axes.plot(
            rows["step_number"],
            rows["overall_conversion"],
            marker="o",
            label=f"{group} (n={start:,})",
        )
    axes.set_xticks(steps["step_number"], steps["step"], rotation=25, ha="right")
    axes.set_xlabel("funnel step")
    axes.set_ylabel("share of group's entrants reaching the step")
    axes.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    axes.set_ylim(0, 1.02)
    axes.set_title(f"Funnel conversion by {by.replace('_', ' ')}")
    axes.legend(title=by.replace("_", " "), fontsize=8)
    axes.grid(alpha=0.3)
    return figure


def plot_drop_comparison(table: pd.DataFrame, step: str, top: int = 12) -> Figure:
    """The largest differences between converters and drop-offs at one step."""
    shown = table.head(top).iloc[::-1]
    labels = [
        f"{variable} = {level}" if level else variable
        for variable, level in zip(shown["variable"], shown["level"], strict=True)
    ]
    figure, axes = new_figure(8.5, 0.4 * len(shown) + 1.8)
    colours = [BLUE if value > 0 else ORANGE for value in shown["effect_size"]]
    axes.barh(np.arange(len(shown)), shown["effect_size"], color=colours)
    axes.axvline(0, color="black", lw=0.8)
    axes.set_yticks(np.arange(len(shown)), labels)
    axes.set_xlabel("effect size (Cohen's h for shares, d for means); > 0: higher among converters")
    axes.set_title(f"Who converts at '{step}': converters vs drop-offs")
    return figure


def plot_k_selection(k_scores: pd.DataFrame, chosen: int) -> Figure:
    """Silhouette per candidate number of clusters, with the chosen k marked."""
    figure, axes = new_figure(7, 4.5)
    axes.plot(k_scores["k"], k_scores["silhouette"], marker="o", color=BLUE)
    axes.axvline(chosen, color=ORANGE, ls="--", label=f"chosen k = {chosen}")
    axes.set_xticks(k_scores["k"])
    axes.set_xlabel("number of clusters k")
    axes.set_ylabel("silhouette (higher separates better)")
    axes.set_title("Choosing the number of clusters")
    axes.legend()
    axes.grid(alpha=0.3)
    return figure


def plot_cluster_profile(profile: pd.DataFrame) -> Figure:
    """Each cluster's z-score on each feature: what makes it different from everyone."""
    z = profile.set_index("cluster").filter(like="z_")
    z.columns = [column[2:].replace("_", " ") for column in z.columns]
    labels = [
        f"{cluster}: {name} ({share:.0%})"
        for cluster, name, share in zip(
            profile["cluster"], profile["name"], profile["share"], strict=True
        )
    ]
    values = z.to_numpy(dtype=float)
    figure, axes = new_figure(max(10.0, 0.75 * z.shape[1] + 6.0), 0.5 * len(z) + 3.0)
    limit = max(1.0, float(np.nanmax(np.abs(values))))
    image = axes.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    axes.set_xticks(range(z.shape[1]), z.columns, rotation=40, ha="right")
    axes.set_yticks(range(len(z)), labels)
    annotate_cells(axes, np.abs(values), np.vectorize(lambda v: f"{v:+.1f}")(values), limit * 0.6)
    axes.set_xlabel("feature")
    axes.set_title("Cluster profiles: feature mean vs population (z-score)")
    figure.colorbar(image, ax=axes, label="z-score", shrink=0.8)
    return figure


def plot_cluster_sizes(profile: pd.DataFrame) -> Figure:
    """Share of customers (and of revenue, when known) per cluster."""
    figure, axes = new_figure(8.5, 0.5 * len(profile) + 1.8)
    rows = np.arange(len(profile))[::-1]
    labels = [f"{c}: {n}" for c, n in zip(profile["cluster"], profile["name"], strict=True)]
    has_revenue = "revenue_share" in profile and profile["revenue_share"].notna().any()
    height = 0.4 if has_revenue else 0.7
    offset = 0.2 if has_revenue else 0.0
    axes.barh(
        rows + offset, profile["share"], height=height, color=BLUE, label="share of customers"
    )
    if has_revenue:
        axes.barh(
            rows - offset,
            profile["revenue_share"],
            height=height,
            color=ORANGE,
            label="share of revenue",
        )
        axes.legend(loc="lower right")
    axes.set_yticks(rows, labels)
    axes.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    axes.set_xlabel("share")
    axes.set_title("Cluster sizes")
    return figure
