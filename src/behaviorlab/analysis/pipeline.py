"""Each analysis end to end on tables and plain settings: tables, figures, text, metrics.

The app reads config, data and writes files; everything here is tables in, results out.
The events are a pandas frame or a lazy engine table: analyses reduce them with SQL where
they lie, and only per-customer, per-cohort or per-step results come back as frames.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from behaviorlab.analysis import charts, clusters, cohorts, funnels, rfm
from behaviorlab.analysis.behaviour import summarize_behaviour
from behaviorlab.analysis.clv import run_clv
from behaviorlab.analysis.engine import Table, has_column
from behaviorlab.analysis.experiment import run_lift, run_power
from behaviorlab.data.contract import AMOUNT, CUSTOMER_ID, SIGNUP_AT
from behaviorlab.errors import ConfigError, DataValidationError
from behaviorlab.features.builder import build_features
from behaviorlab.features.snapshots import make_calendar_snapshots
from behaviorlab.features.spec import feature_columns, resolve_feature_spec


@dataclass(frozen=True)
class Inputs:
    """The data every analysis may use; ``events`` may be far larger than memory."""

    events: Table
    customers: pd.DataFrame | None
    data_end: pd.Timestamp
    truth: pd.DataFrame | None = None
    assignments: pd.DataFrame | None = None

    @property
    def cutoff(self) -> pd.Timestamp:
        """The start of the day after the last event: every event counts, days are whole."""
        return pd.Timestamp(self.data_end).normalize() + pd.Timedelta(days=1)

    def attributes(self) -> pd.DataFrame | None:
        """Categorical customer attributes (not ids, not dates, not numbers)."""
        if self.customers is None:
            return None
        kept = [
            column
            for column in self.customers.columns
            if column not in (CUSTOMER_ID, SIGNUP_AT)
            and not pd.api.types.is_numeric_dtype(self.customers[column])
            and not pd.api.types.is_datetime64_any_dtype(self.customers[column])
        ]
        return self.customers[[CUSTOMER_ID, *kept]]


@dataclass
class Result:
    """What one analysis produced."""

    name: str
    title: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    details: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Figure] = field(default_factory=dict)
    text: str = ""
    metrics: dict[str, float] = field(default_factory=dict)


def run_rfm(inputs: Inputs, settings: Mapping[str, Any]) -> Result:
    """Scores, segments, the segment summary, the R x F grid and the brief."""
    cutoff = pd.Timestamp(settings["cutoff"] or inputs.cutoff)
    scores = rfm.score_rfm(inputs.events, cutoff, settings["purchase_event"])
    segmented = rfm.assign_segments(scores, settings["segments"])
    summary = rfm.summarize_segments(segmented)
    has_amounts = has_column(inputs.events, AMOUNT)
    value = "revenue" if has_amounts else "purchases"
    return Result(
        name="rfm",
        title="RFM segments",
        tables={"rfm_segments": summary},
        details={"rfm_customers": segmented},
        figures={
            "rfm_grid": charts.plot_rf_grid(rfm.count_rf_grid(scores)),
            "rfm_segments": charts.plot_segment_sizes(summary, value),
        },
        text=rfm.write_brief(summary, cutoff, has_amounts),
        metrics={
            "rfm_customers": len(segmented),
            "rfm_segments": len(summary),
            **{
                f"rfm_share_{rfm_key(name)}": share
                for name, share in zip(summary["segment"], summary["share"], strict=True)
            },
        },
    )


def rfm_key(segment: str) -> str:
    """A metric-safe form of a segment name."""
    return "".join(ch if ch.isalnum() else "_" for ch in segment.lower()).strip("_")


def run_cohorts(inputs: Inputs, settings: Mapping[str, Any]) -> Result:
    """Period cohorts (matrices, heatmap, curves) and, if set, two behavioural cohorts."""
    period = settings["period"]
    anchors = cohorts.find_anchors(
        inputs.events,
        inputs.customers,
        settings["anchor"],
        settings["anchor_event"],
    )
    assigned = cohorts.assign_period_cohorts(anchors, period)
    options = {
        "period": period,
        "data_end": inputs.data_end,
        "returning_event": settings["returning_event"],
        "max_periods": int(settings["max_periods"]),
    }
    table = cohorts.compute_retention(inputs.events, assigned, **options)
    returning = settings["returning_event"] or "any event"
    result = Result(
        name="cohorts",
        title="Cohort retention",
        details={"cohort_retention": table},
        tables={
            "cohort_counts": cohorts.pivot_retention(table, "returned").reset_index(),
            "cohort_rates": cohorts.pivot_retention(table, "rate").reset_index(),
            "cohort_rates_or_later": cohorts.pivot_retention(table, "rate_or_later").reset_index(),
        },
        figures={
            "cohort_heatmap": charts.plot_retention_heatmap(
                cohorts.pivot_retention(table, "rate"),
                f"Share of each {period} cohort returning ({returning}) in period k",
                period,
            ),
            "cohort_heatmap_or_later": charts.plot_retention_heatmap(
                cohorts.pivot_retention(table, "rate_or_later"),
                f"Share of each {period} cohort returning in period k or later",
                period,
            ),
            "cohort_curves": charts.plot_retention_curves(
                table, "rate", f"Retention curves by {period} cohort ({returning})", period
            ),
        },
        metrics={"cohort_customers": len(assigned), "cohorts": assigned["cohort"].nunique()},
    )
    curve = cohorts.average_curve(table)
    result.metrics.update(
        {
            f"retention_period_{int(k)}": rate
            for k, rate in zip(curve["period"], curve["rate"], strict=True)
            if k in (1, 3, 6, 12)
        }
    )
    behaviour = settings["behaviour"]
    if behaviour:
        add_behaviour_comparison(result, inputs, anchors, behaviour, options)
    result.text = describe_cohorts(result, period, returning)
    return result


def add_behaviour_comparison(
    result: Result,
    inputs: Inputs,
    anchors: pd.DataFrame,
    behaviour: Mapping[str, Any],
    options: Mapping[str, Any],
) -> None:
    """Split customers on "did X within N days of their start", compare their retention."""
    event, within = behaviour["event"], float(behaviour["within_days"])
    split = cohorts.assign_behaviour_cohorts(inputs.events, anchors, event, within)
    table = cohorts.compute_retention(inputs.events, split, **options)
    did, did_not = f"{event} within {within:g}d", f"no {event} within {within:g}d"
    comparison = cohorts.compare_cohorts(
        table,
        did,
        did_not,
        int(behaviour["period"]),
        behaviour["measure"],
        float(behaviour["confidence"]),
    )
    result.details["behaviour_retention"] = table
    result.tables["behaviour_comparison"] = comparison.to_frame()
    result.figures["behaviour_comparison"] = charts.plot_cohort_comparison(
        table, comparison, options["period"]
    )
    result.metrics.update(
        {
            "behaviour_rate_did": comparison.rate_a,
            "behaviour_rate_did_not": comparison.rate_b,
            "behaviour_difference": comparison.difference,
            "behaviour_p_value": comparison.p_value,
        }
    )


def describe_cohorts(result: Result, period: str, returning: str) -> str:
    """A few sentences with the headline retention figures."""
    table = result.details["cohort_retention"]
    curve = cohorts.average_curve(table).set_index("period")
    lines = [
        f"{result.metrics['cohort_customers']:,} customers in {result.metrics['cohorts']} "
        f"{period} cohorts; a return is {returning}.",
        "",
    ]
    lines += [
        f"- {period} {k}: {curve.at[k, 'rate']:.1%} of customers return "
        f"(over {int(curve.at[k, 'customers']):,} customers observed that long)."
        for k in (1, 3, 6, 12)
        if k in curve.index
    ]
    if "behaviour_comparison" in result.tables:
        row = result.tables["behaviour_comparison"].iloc[0]
        verdict = "a significant" if row["p_value"] < 1 - row["confidence"] else "no significant"
        lines += [
            "",
            f"**{row['cohort_a']}** vs **{row['cohort_b']}** at {period} {row['period']}: "
            f"{row['rate_a']:.1%} vs {row['rate_b']:.1%} (n = {row['n_a']:,} vs {row['n_b']:,}), "
            f"difference {row['difference']:+.1%}, {row['confidence']:.0%} CI "
            f"[{row['ci_low']:+.1%}, {row['ci_high']:+.1%}], p = {row['p_value']:.3g}: "
            f"{verdict} difference (an association, not proof that the behaviour causes it).",
        ]
    return "\n".join(lines) + "\n"


def run_funnel(inputs: Inputs, settings: Mapping[str, Any]) -> Result:
    """The funnel, its breakdowns and who drops at the biggest drop-off."""
    if not settings["steps"]:
        raise ConfigError(
            "no funnel steps for this data set: set analysis.funnel.steps=[step1,step2,...]"
        )
    steps = funnels.parse_steps(settings["steps"])
    window = pd.Timedelta(settings["window"]) if settings["window"] else None
    unit = settings["unit"]
    journeys = funnels.trace_journeys(inputs.events, steps, window, settings["ordering"], unit)
    if journeys.empty:
        raise DataValidationError(f"no {unit} reached the first funnel step '{steps[0].name}'")
    summary = funnels.summarize_funnel(journeys, steps)
    units = f"{unit}s"
    result = Result(
        name="funnel",
        title="Funnel",
        tables={"funnel": summary},
        details={"funnel_journeys": journeys},
        figures={
            "funnel": charts.plot_funnel(
                summary,
                f"Funnel: {steps[0].name} to {steps[-1].name}"
                + (f" within {settings['window']}" if window is not None else ""),
                units,
            )
        },
        metrics={
            "funnel_entered": int(summary["entered"].iloc[0]),
            "funnel_conversion": float(summary["overall_conversion"].iloc[-1]),
        },
    )
    attributes = inputs.attributes()
    for by in breakdown_columns(settings["breakdown"], attributes):
        grouped = funnels.summarize_funnel(
            journeys.merge(attributes[[CUSTOMER_ID, by]], on=CUSTOMER_ID, how="left"), steps, by
        )
        result.tables[f"funnel_by_{by}"] = grouped
        result.figures[f"funnel_by_{by}"] = charts.plot_funnel_breakdown(grouped, by)
    drop_step = funnels.find_biggest_drop(summary)
    features = summarize_behaviour(inputs.events, inputs.cutoff, settings["purchase_event"]).drop(
        columns=list(OUTCOME_FEATURES), errors="ignore"
    )
    drop = funnels.compare_drop(journeys, drop_step, attributes, features)
    drop_name = steps[drop_step - 1].name
    result.tables["funnel_drop_comparison"] = drop
    if not drop.empty:
        result.figures["funnel_drop_comparison"] = charts.plot_drop_comparison(drop, drop_name)
    result.metrics["funnel_biggest_drop_step"] = drop_step
    result.text = describe_funnel(summary, drop, drop_name, units)
    return result


# Purchases and revenue are what a funnel leads to: comparing converters on them is circular.
OUTCOME_FEATURES = ("purchases", "revenue")


def breakdown_columns(breakdown: Any, attributes: pd.DataFrame | None) -> list[str]:
    """The configured breakdown attributes (one name or a list), checked against the data."""
    names = [breakdown] if isinstance(breakdown, str) else list(breakdown or [])
    available = set() if attributes is None else set(attributes.columns) - {CUSTOMER_ID}
    missing = [name for name in names if name not in available]
    if missing:
        raise DataValidationError(
            f"funnel breakdown {missing} is not a categorical customer attribute; "
            f"available: {sorted(available)}"
        )
    return names


def describe_funnel(summary: pd.DataFrame, drop: pd.DataFrame, drop_name: str, units: str) -> str:
    """Headline conversion, the biggest drop-off and what differs there."""
    row = summary.set_index("step").loc[drop_name]
    lines = [
        f"{int(summary['entered'].iloc[0]):,} {units} entered the funnel; "
        f"{summary['overall_conversion'].iloc[-1]:.1%} reached '{summary['step'].iloc[-1]}'.",
        "",
        f"The biggest drop-off is into **{drop_name}**: only {row['step_conversion']:.1%} of the "
        f"{int(row['entered'] + row['drop_off']):,} {units} at the previous step continue.",
    ]
    if not drop.empty:
        lines += [
            "",
            "Largest differences between those who continue and those who drop there:",
            "",
        ]
        for item in drop.head(5).itertuples():
            what = f"{item.variable} = {item.level}" if item.level else item.variable
            fmt = "{:.1%}" if item.kind == "attribute" else "{:,.2f}"
            lines.append(
                f"- {what}: {fmt.format(item.converters)} among converters vs "
                f"{fmt.format(item.drop_offs)} among drop-offs (effect {item.effect_size:+.2f})"
            )
    return "\n".join(lines) + "\n"


def build_cluster_features(
    inputs: Inputs, spec: Mapping[str, Any], columns: Sequence[str] | None
) -> pd.DataFrame:
    """Behavioural features of every active customer at the end of the data, from the builder.

    ``columns`` picks features by name; names the data cannot produce (spend without
    amounts) are skipped, so one list serves every data set.
    """
    resolved = resolve_feature_spec(dict(spec), inputs.events, inputs.customers)
    snapshots = make_calendar_snapshots(inputs.events, [str(inputs.cutoff.date())])
    built = build_features(inputs.events, inputs.customers, snapshots, resolved)
    available = [name for name in feature_columns(resolved) if name in built]
    kept = available if not columns else [name for name in columns if name in available]
    if not kept:
        raise ConfigError(
            f"none of the clustering features {list(columns or [])} exist; have {available}"
        )
    return built[[CUSTOMER_ID, *kept]]


def run_clusters(inputs: Inputs, settings: Mapping[str, Any]) -> Result:
    """Clusters on behavioural features at the end of the data, named and profiled.

    At most ``sample`` customers (a seeded random sample) are clustered, so the cost of
    the fits does not grow with the customer base.
    """
    features = build_cluster_features(inputs, settings["feature_spec"] or {}, settings["features"])
    sampled = clusters.sample_customers(features, int(settings["sample"]), int(settings["seed"]))
    outcome = clusters.cluster_customers(
        sampled,
        k=settings["k"],
        k_range=settings["k_range"],
        method=settings["method"],
        seed=int(settings["seed"]),
        stability_seeds=int(settings["stability_seeds"]),
        sample_size=int(settings["sample_size"]),
        revenue="monetary_total" if "monetary_total" in features else None,
    )
    metrics = {
        "clusters_k": outcome.k,
        "clusters_stability_ari": outcome.stability,
        "clusters_customers": len(sampled),
        "clusters_population": len(features),
    }
    metrics["clusters_silhouette"] = float(
        outcome.k_scores.set_index("k")["silhouette"].get(outcome.k, float("nan"))
    )
    truth_column = settings["truth_column"]
    if inputs.truth is not None and truth_column in inputs.truth:
        metrics["clusters_truth_ari"] = clusters.agree_with_truth(
            outcome.assignments, inputs.truth, truth_column
        )
    return Result(
        name="clusters",
        title="Behavioural clusters",
        details={"cluster_assignments": outcome.assignments},
        tables={
            "cluster_profiles": outcome.profile,
            "cluster_k_selection": outcome.k_scores,
        },
        figures={
            "cluster_k_selection": charts.plot_k_selection(outcome.k_scores, outcome.k),
            "cluster_profiles": charts.plot_cluster_profile(outcome.profile),
            "cluster_sizes": charts.plot_cluster_sizes(outcome.profile),
        },
        text=describe_clusters(outcome, metrics),
        metrics=metrics,
    )


def describe_clusters(outcome: clusters.Clustering, metrics: Mapping[str, float]) -> str:
    """The clusters by size, with how stable and (on simulated data) how true they are."""
    clustered, population = metrics["clusters_customers"], metrics["clusters_population"]
    lines = [
        f"{clustered:,} customers in {outcome.k} clusters "
        f"(silhouette {metrics['clusters_silhouette']:.2f}); stability across seeds: "
        f"ARI {outcome.stability:.2f}.",
    ]
    if clustered < population:
        lines.append(
            f"They are a seeded random sample of the {population:,} active customers "
            "(analysis.clusters.sample); the tables describe the sample."
        )
    if "clusters_truth_ari" in metrics:
        lines.append(
            "Agreement with the simulator's latent segments: "
            f"ARI {metrics['clusters_truth_ari']:.2f}."
        )
    lines.append("")
    for row in outcome.profile.sort_values("share", ascending=False).itertuples():
        revenue = f", {row.revenue_share:.0%} of revenue" if hasattr(row, "revenue_share") else ""
        lines.append(
            f"- cluster {row.cluster}, **{row.name}**: {row.share:.0%} of customers{revenue}"
        )
    return "\n".join(lines) + "\n"


ANALYSES: dict[str, Callable[[Inputs, Mapping[str, Any]], Result]] = {
    "rfm": run_rfm,
    "cohorts": run_cohorts,
    "funnel": run_funnel,
    "clusters": run_clusters,
    "clv": run_clv,
    "lift": run_lift,
    "power": run_power,
}
