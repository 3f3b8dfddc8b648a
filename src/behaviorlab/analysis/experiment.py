"""The experiment analyses end to end: intervention lift and power, tables in, results out.

``run_lift`` measures each assigned customer's outcome after assignment (and the same
metric before it, for CUPED), checks the sample ratio, estimates the lift overall and per
segment, and says what it means. ``run_power`` says what an experiment can detect.
``pipeline`` registers both; its ``Inputs``/``Result`` are imported where used, so this
module and ``pipeline`` can import each other in either order.
"""

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from behaviorlab.analysis import lift, lift_charts, rfm
from behaviorlab.analysis.engine import Table, query
from behaviorlab.analysis.outcomes import (
    ASSIGNED_AT,
    BINARY_KINDS,
    GROUP,
    check_outcome,
    measure_outcomes,
)
from behaviorlab.data.contract import CUSTOMER_ID, SIGNUP_AT, TIMESTAMP
from behaviorlab.data.readers import read_table
from behaviorlab.errors import ConfigError, DataValidationError

if TYPE_CHECKING:
    from behaviorlab.analysis.pipeline import Inputs, Result

RFM_SEGMENT = "rfm"
COVARIATES = {
    "outcome": ("pre_outcome", "the same metric in the window before assignment"),
    "active_days": ("pre_active_days", "active days in the window before assignment"),
}
NO_PURCHASES = "no purchases"
RFM_SKIPPED = (
    "RFM segments skipped: no RFM grid (run the rfm analysis too, analysis=[lift,rfm], "
    "or set lift.rfm_grid)."
)


def run_lift(inputs: "Inputs", settings: Mapping[str, Any]) -> "Result":
    """Group summary, sample-ratio check, lift (raw and CUPED), per-segment lift, decision."""
    from behaviorlab.analysis.pipeline import Result

    if inputs.assignments is None:
        raise ConfigError(
            "the lift analysis needs an assignment table: add an `assignments:` block "
            "(customer_id, group, assigned_at) to the data config"
        )
    outcome = settings["outcome"]
    kind, binary = outcome["kind"], outcome["kind"] in BINARY_KINDS
    alpha, control = float(settings["alpha"]), str(settings["control"])
    outcomes = measure_outcomes(
        inputs.events,
        inputs.assignments,
        kind,
        int(outcome["days"]),
        outcome.get("events"),
        data_end=inputs.data_end,
    )
    arms = lift.split_groups(outcomes, control)
    summary = lift.summarize_groups(outcomes)
    expected = settings.get("expected_split") or dict.fromkeys(summary["group"], 1.0)
    sample_ratio = lift.check_sample_ratio(
        dict(zip(summary["group"], summary["n"], strict=True)),
        expected,
        float(settings["srm_alpha"]),
    )
    resamples, seed = int(settings["bootstrap_resamples"]), int(settings["seed"])
    covariate = settings.get("cuped_covariate") or default_covariate(outcome["kind"])
    if covariate not in COVARIATES:
        raise ConfigError(
            f"lift.cuped_covariate must be one of {', '.join(COVARIATES)}, got '{covariate}'"
        )
    rows, reductions = [], {}
    for arm in arms:
        rows.append(lift.estimate_lift(outcomes, arm, control, binary, alpha, resamples, seed))
        if settings["cuped"]:
            adjusted, cuped = lift.estimate_cuped_lift(
                outcomes, arm, control, alpha, COVARIATES[covariate][0]
            )
            rows.append(adjusted)
            reductions[arm] = cuped.variance_reduction
    overall = pd.DataFrame(rows, columns=lift.LIFT_COLUMNS)
    columns = list(settings.get("segments") or [])
    skipped = RFM_SEGMENT in columns and not settings.get("rfm_grid")
    if skipped:
        columns.remove(RFM_SEGMENT)
    segments = collect_segments(inputs, outcomes, columns, settings)
    per_segment = pd.concat(
        [
            lift.segment_lift(
                outcomes,
                segments,
                columns,
                arm,
                control,
                binary,
                alpha,
                settings["correction"],
                resamples,
                seed,
                int(settings["min_segment_size"]),
            )
            for arm in arms
        ],
        ignore_index=True,
    )
    name = outcome_name(kind)
    scale, unit = (100.0, "points") if binary else (1.0, name)
    return Result(
        name="lift",
        title=f"Intervention lift on {name}",
        tables={
            "lift_groups": summary,
            "lift_overall": overall,
            "lift_segments": per_segment,
            "lift_sample_ratio": sample_ratio,
        },
        details={"lift_outcomes": outcomes},
        figures={
            "lift_forest": lift_charts.plot_forest(
                forest_rows(overall, per_segment, alpha),
                f"Lift on {name}: overall and per segment",
                scale,
                unit,
            ),
            "lift_groups": lift_charts.plot_group_outcomes(summary, name, binary),
        },
        text=describe_experiment(
            overall,
            sample_ratio,
            per_segment,
            reductions,
            COVARIATES[covariate][1],
            name,
            binary,
            alpha,
        )
        + (f"\n{RFM_SKIPPED}" if skipped else ""),
        metrics=lift_metrics(overall, sample_ratio, reductions),
    )


def default_covariate(kind: str) -> str:
    """Active days for retention and churn: every assigned customer was active before
    assignment, so the same metric before it is constant and reduces no variance."""
    return "active_days" if kind in ("retention", "churn") else "outcome"


def outcome_name(kind: str) -> str:
    """How the outcome reads in a sentence."""
    return {"revenue": "revenue per customer"}.get(kind, kind)


def collect_segments(
    inputs: "Inputs", outcomes: pd.DataFrame, columns: Sequence[str], settings: Mapping[str, Any]
) -> pd.DataFrame:
    """One row per assigned customer with each requested segment column.

    Segments come from the customers' categorical attributes, the RFM segment at the
    earliest assignment (``rfm``; nothing after it is seen) or a table at ``segments_path``
    (such as a score output with ``tier``). ``run_lift`` drops ``rfm`` without a grid and
    says so.
    """
    segments = outcomes[[CUSTOMER_ID]]
    sources = []
    if inputs.customers is not None:
        sources.append(inputs.customers.drop(columns=[SIGNUP_AT], errors="ignore"))
    if settings.get("segments_path"):
        sources.append(read_segments(settings["segments_path"]))
    for column in columns:
        if column == RFM_SEGMENT:
            found = score_segments_at(inputs.events, outcomes[ASSIGNED_AT].min(), settings)
            found = segments[[CUSTOMER_ID]].merge(found, on=CUSTOMER_ID, how="left")
            found[RFM_SEGMENT] = found[RFM_SEGMENT].fillna(NO_PURCHASES)
        else:
            found = next((source for source in sources if column in source.columns), None)
            if found is None:
                available = sorted(
                    {c for source in sources for c in source.columns} - {CUSTOMER_ID}
                )
                raise ConfigError(
                    f"lift.segments: '{column}' is not a customer attribute or a column of "
                    f"lift.segments_path; available: {', '.join(available) or 'none'}, rfm"
                )
            found = found.drop_duplicates(CUSTOMER_ID)[[CUSTOMER_ID, column]]
        segments = segments.merge(
            found.astype({CUSTOMER_ID: "str"}), on=CUSTOMER_ID, how="left", validate="1:1"
        )
    return segments


def read_segments(path: str) -> pd.DataFrame:
    """A per-customer segment table (Parquet or CSV) with a ``customer_id`` column."""
    table = read_table({"path": str(path)}, [CUSTOMER_ID], "segments")
    if CUSTOMER_ID not in table.columns:
        raise DataValidationError(
            f"lift.segments_path {path}: column '{CUSTOMER_ID}' is missing; "
            f"available columns: {', '.join(map(str, table.columns))}"
        )
    return table.astype({CUSTOMER_ID: "str"})


def score_segments_at(
    events: Table, cutoff: pd.Timestamp, settings: Mapping[str, Any]
) -> pd.DataFrame:
    """Each customer's named RFM segment from purchases before ``cutoff``."""
    scores = rfm.score_rfm(events, pd.Timestamp(cutoff), settings["purchase_event"])
    named = rfm.assign_segments(scores, settings["rfm_grid"])[[CUSTOMER_ID, "segment"]]
    return named.rename(columns={"segment": RFM_SEGMENT})


def forest_rows(overall: pd.DataFrame, per_segment: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Overall rows (raw and CUPED) then each segment level, labelled for the forest plot."""
    arms = overall["treatment"].nunique() > 1
    top = overall.assign(
        label=lambda frame: (
            "overall (" + frame["method"] + ")" + (": " + frame["treatment"] if arms else "")
        ),
        significant=overall["p_value"] < alpha,
    )
    levels = per_segment.assign(
        label=lambda frame: (
            frame["segment"]
            + " = "
            + frame["level"].astype(str)
            + (": " + frame["treatment"] if arms else "")
        )
    )
    return pd.concat([top, levels], ignore_index=True)[
        ["label", "lift", "lift_low", "lift_high", "significant"]
    ]


def describe_experiment(
    overall: pd.DataFrame,
    sample_ratio: pd.DataFrame,
    per_segment: pd.DataFrame,
    reductions: Mapping[str, float],
    covariate_text: str,
    name: str,
    binary: bool,
    alpha: float,
) -> str:
    """The decision in words: the SRM warning first, then each arm, CUPED and segments."""
    lines = [warning] if (warning := lift.describe_sample_ratio(sample_ratio)) else []
    for arm, rows in overall.groupby("treatment", sort=False):
        chosen = rows.iloc[-1]
        sentence = lift.describe_lift(chosen, name, binary, alpha)
        lines.append(sentence[:1].upper() + sentence[1:] + ".")
        if arm in reductions:
            raw = rows.iloc[0]
            lines.append(
                f"CUPED ({covariate_text}) removed "
                f"{reductions[arm]:.0%} of the outcome variance; without it: "
                f"{lift.describe_lift(raw, name, binary, alpha)}."
            )
        found = per_segment[(per_segment["treatment"] == arm) & per_segment["significant"]]
        if not found.empty:
            named = ", ".join(found["segment"] + " = " + found["level"].astype(str))
            lines.append(f"Segments with a significant effect after correction: {named}.")
        elif not per_segment.empty:
            lines.append("No segment shows a significant effect after correction.")
    return "\n".join(lines)


def lift_metrics(
    overall: pd.DataFrame, sample_ratio: pd.DataFrame, reductions: Mapping[str, float]
) -> dict[str, float]:
    """Headline numbers per arm and method, the SRM p-value and the CUPED reduction."""
    metrics = {
        "lift_srm_p_value": float(sample_ratio["p_value"].iloc[0]),
        "lift_srm_flagged": float(sample_ratio["flagged"].iloc[0]),
    }
    for row in overall.itertuples():
        key = f"lift_{metric_key(row.treatment)}_{row.method}"
        metrics.update(
            {
                key: row.lift,
                f"{key}_low": row.lift_low,
                f"{key}_high": row.lift_high,
                f"{key}_p_value": row.p_value,
            }
        )
    for arm, reduction in reductions.items():
        metrics[f"lift_{metric_key(arm)}_cuped_variance_reduction"] = reduction
    return metrics


def metric_key(text: str) -> str:
    """A metric-safe form of a group name."""
    return "".join(ch if ch.isalnum() else "_" for ch in str(text).lower()).strip("_")


def run_power(inputs: "Inputs", settings: Mapping[str, Any]) -> "Result":
    """Minimum detectable effects for group sizes and group sizes for effects."""
    from behaviorlab.analysis.pipeline import Result

    outcome = settings["outcome"]
    kind, days = outcome["kind"], int(outcome["days"])
    check_outcome(kind, days, outcome.get("events"))
    binary = kind in BINARY_KINDS
    baseline = measure_baseline(inputs, settings)
    alpha, power, ratio = (
        float(settings["alpha"]),
        float(settings["power"]),
        float(settings["ratio"]),
    )
    sizes = [int(n) for n in settings["n_per_group"]]
    effects = [float(effect) for effect in settings["effects"]]
    if binary:
        mde = [
            lift.minimum_detectable_effect(baseline["mean"], n, alpha, power, ratio) for n in sizes
        ]
        needed = [
            lift.required_sample_size(baseline["mean"], effect, alpha, power, ratio)
            for effect in effects
        ]
    else:
        mde = [
            lift.minimum_detectable_difference(baseline["std"], n, alpha, power, ratio)
            for n in sizes
        ]
        needed = [
            lift.required_sample_size_means(baseline["std"], effect, alpha, power, ratio)
            for effect in effects
        ]
    curve = pd.DataFrame({"n_per_group": sizes, "mde": mde}).assign(
        mde_relative=lambda frame: frame["mde"] / baseline["mean"],
        n_treatment=lambda frame: frame["n_per_group"] * ratio,
    )
    required = pd.DataFrame({"effect": effects, "n_per_group": np.ceil(needed)}).assign(
        n_per_group=lambda frame: frame["n_per_group"].astype(int),
        n_total=lambda frame: (frame["n_per_group"] * (1 + ratio)).round().astype(int),
    )
    name = outcome_name(kind)
    scale, unit = (100.0, "points") if binary else (1.0, name)
    return Result(
        name="power",
        title=f"Experiment power for {name}",
        tables={
            "power_baseline": pd.DataFrame([baseline]),
            "power_mde": curve,
            "power_sample_size": required,
        },
        figures={"power_curve": lift_charts.plot_power_curve(curve, unit, scale)},
        text=describe_power(baseline, curve, required, name, binary, alpha, power),
        metrics={
            "power_baseline": baseline["mean"],
            **{f"power_mde_n{n}": value for n, value in zip(sizes, mde, strict=True)},
        },
    )


def measure_baseline(inputs: "Inputs", settings: Mapping[str, Any]) -> dict:
    """The outcome's mean (and spread) over the most recent complete window, or settings.

    Customers seen in the ``lookback_days`` before the window's start are followed for
    ``days``: the population an experiment started then would have assigned.
    """
    outcome = settings["outcome"]
    days = int(outcome["days"])
    if settings.get("baseline") is not None:
        return {
            "source": "settings",
            "customers": 0,
            "mean": float(settings["baseline"]),
            "std": float(settings.get("baseline_std") or 0.0) or float("nan"),
        }
    if inputs.events is None or pd.isna(inputs.data_end):
        raise ConfigError("power.baseline is unset and there are no events to measure it from")
    start = inputs.cutoff - pd.Timedelta(days=days)
    eligible = query(
        f"select distinct {CUSTOMER_ID}, 'all' as \"{GROUP}\", $start::timestamp as {ASSIGNED_AT}"
        f" from events where {TIMESTAMP} >= $first and {TIMESTAMP} < $start",
        {
            "start": start.to_pydatetime(),
            "first": (start - pd.Timedelta(days=int(settings["lookback_days"]))).to_pydatetime(),
        },
        events=inputs.events,
    )
    if eligible.empty:
        raise DataValidationError(
            f"power: no customer was seen in the {settings['lookback_days']} days before "
            f"{start.date()}; set power.baseline"
        )
    measured = measure_outcomes(
        inputs.events, eligible, outcome["kind"], days, outcome.get("events")
    )["outcome"]
    return {
        "source": f"customers seen before {start.date()}, followed {days} days",
        "customers": len(measured),
        "mean": float(measured.mean()),
        "std": float(measured.std(ddof=1)),
    }


def describe_power(
    baseline: Mapping,
    curve: pd.DataFrame,
    required: pd.DataFrame,
    name: str,
    binary: bool,
    alpha: float,
    power: float,
) -> str:
    """What the experiment can detect, in words."""

    def show(value: float) -> str:
        return f"{100 * value:.1f} points" if binary else f"{value:,.2f}"

    level = f"{baseline['mean']:.1%}" if binary else f"{baseline['mean']:,.2f}"
    lines = [
        f"Baseline {name}: {level} ({baseline['source']}). "
        f"Two-sided test at alpha {alpha:g} with {power:.0%} power."
    ]
    lines += [
        f"With {int(row.n_per_group):,} customers per group the smallest detectable effect is "
        f"{show(row.mde)} ({row.mde_relative:+.1%} relative)."
        for row in curve.itertuples()
    ]
    lines += [
        f"Detecting {show(row.effect)} needs {int(row.n_per_group):,} customers per group "
        f"({int(row.n_total):,} in all)."
        for row in required.itertuples()
    ]
    return "\n".join(lines)
