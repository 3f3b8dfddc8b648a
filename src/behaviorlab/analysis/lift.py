"""Intervention lift: group outcomes, lift with intervals, CUPED, sample ratio and segments.

Every function takes per-customer outcomes (one row per assigned customer: ``group``,
``outcome`` and, for CUPED, ``pre_outcome``) and plain values, and returns frames or dicts.
Rates (0/1 outcomes) get Newcombe's interval for the difference and Katz's log interval for
the ratio; continuous outcomes (revenue, CUPED-adjusted values) a seeded bootstrap or a
Welch interval. Intervals and tests come from statsmodels; the sample-ratio test from SciPy.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_effectsize,
    test_proportions_2indep,
)
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from behaviorlab.errors import ConfigError, DataValidationError

GROUP = "group"
OUTCOME = "outcome"
PRE_OUTCOME = "pre_outcome"
CORRECTIONS = {"holm": "holm", "bh": "fdr_bh", "bonferroni": "bonferroni", "none": None}
BOOTSTRAP_CELLS = 4_000_000
LIFT_COLUMNS = [
    "treatment",
    "control",
    "method",
    "n_treatment",
    "n_control",
    "treatment_mean",
    "control_mean",
    "lift",
    "lift_low",
    "lift_high",
    "relative_lift",
    "relative_low",
    "relative_high",
    "p_value",
]


@dataclass(frozen=True)
class Cuped:
    """CUPED-adjusted outcomes and how much variance the covariate removed."""

    adjusted: pd.Series
    theta: float
    variance_reduction: float


def summarize_groups(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per group: customers, share, outcome mean and standard deviation, pre-period mean."""
    columns = {OUTCOME: ["size", "mean", "std"]}
    if PRE_OUTCOME in outcomes:
        columns[PRE_OUTCOME] = ["mean"]
    summary = outcomes.groupby(GROUP, observed=True).agg(columns)
    summary.columns = ["n", "mean", "std", *(["pre_mean"] if PRE_OUTCOME in outcomes else [])]
    summary = summary.reset_index()
    return summary.assign(share=summary["n"] / summary["n"].sum())


def check_sample_ratio(
    counts: Mapping[str, int], expected: Mapping[str, float], alpha: float = 0.001
) -> pd.DataFrame:
    """Chi-square test of the group sizes against the planned split (shares, any scale).

    A mismatch means the assignment or the logging is broken, so the lift cannot be trusted.
    """
    unknown = sorted(set(counts) - set(expected))
    if unknown:
        raise ConfigError(
            f"lift.expected_split has no share for group '{unknown[0]}'; "
            f"groups in the assignments: {', '.join(sorted(counts))}"
        )
    groups = list(expected)
    planned = np.array([float(expected[group]) for group in groups])
    if (planned <= 0).any():
        raise ConfigError("lift.expected_split: every share must be positive")
    observed = np.array([int(counts.get(group, 0)) for group in groups])
    total = observed.sum()
    statistic, p_value = stats.chisquare(observed, total * planned / planned.sum())
    return pd.DataFrame(
        {
            GROUP: groups,
            "observed": observed,
            "expected_share": planned / planned.sum(),
            "observed_share": observed / total,
            "chi2": statistic,
            "p_value": p_value,
            "flagged": bool(p_value < alpha),
        }
    )


def adjust_cuped(outcome: pd.Series, covariate: pd.Series) -> Cuped:
    """Remove the part of the outcome the pre-period covariate predicts (Deng et al., 2013).

    theta = cov(Y, X) / var(X) over all customers pooled (assignment is independent of the
    pre-period, so pooling is unbiased); the adjusted outcome keeps the outcome's mean.
    """
    x = covariate.to_numpy(dtype=float)
    y = outcome.to_numpy(dtype=float)
    variance = x.var(ddof=1)
    theta = float(np.cov(y, x, ddof=1)[0, 1] / variance) if variance > 0 else 0.0
    adjusted = y - theta * (x - x.mean())
    reduction = 1.0 - adjusted.var(ddof=1) / y.var(ddof=1) if y.var(ddof=1) > 0 else 0.0
    return Cuped(pd.Series(adjusted, index=outcome.index), theta, float(reduction))


def compare_rates(
    treated: np.ndarray, control: np.ndarray, alpha: float = 0.05
) -> dict[str, float]:
    """Difference of two rates with Newcombe's interval, ratio with Katz's log interval,
    and the two-sided score test p-value (the pooled z-test at no difference)."""
    count_t, n_t = int(treated.sum()), treated.size
    count_c, n_c = int(control.sum()), control.size
    low, high = confint_proportions_2indep(
        count_t, n_t, count_c, n_c, method="newcomb", compare="diff", alpha=alpha
    )
    rate_t, rate_c = count_t / n_t, count_c / n_c
    if count_t and count_c:
        ratio_low, ratio_high = confint_proportions_2indep(
            count_t, n_t, count_c, n_c, method="log", compare="ratio", alpha=alpha
        )
    else:
        ratio_low = ratio_high = np.nan
    if 0 < count_t + count_c < n_t + n_c:
        with np.errstate(divide="ignore", invalid="ignore"):  # odds ratio of a 0% or 100% rate
            p_value = test_proportions_2indep(
                count_t, n_t, count_c, n_c, method="score", correction=False
            ).pvalue
    else:
        p_value = 1.0
    return {
        "method": "newcombe",
        "treatment_mean": rate_t,
        "control_mean": rate_c,
        "lift": rate_t - rate_c,
        "lift_low": float(low),
        "lift_high": float(high),
        "relative_lift": rate_t / rate_c - 1 if rate_c else np.nan,
        "relative_low": float(ratio_low) - 1,
        "relative_high": float(ratio_high) - 1,
        "p_value": float(p_value),
    }


def compare_means(
    treated: np.ndarray,
    control: np.ndarray,
    alpha: float = 0.05,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, float]:
    """Difference and relative difference of two means with percentile bootstrap intervals
    (seeded), and Welch's t-test p-value. ``resamples=0`` gives Welch intervals instead,
    with a delta-method interval for the relative difference."""
    mean_t, mean_c = float(treated.mean()), float(control.mean())
    welch = CompareMeans(DescrStatsW(treated), DescrStatsW(control))
    _, p_value, _ = welch.ttest_ind(usevar="unequal")
    if resamples:
        diffs, ratios = bootstrap_means(treated, control, resamples, seed)
        bounds = [100 * alpha / 2, 100 * (1 - alpha / 2)]
        low, high = np.percentile(diffs, bounds)
        finite = ratios[np.isfinite(ratios)]
        ratio_low, ratio_high = np.percentile(finite, bounds) if finite.size else (np.nan,) * 2
        method = "bootstrap"
    else:
        low, high = welch.tconfint_diff(alpha=alpha, usevar="unequal")
        ratio_low, ratio_high = delta_ratio_interval(treated, control, alpha)
        method = "welch"
    return {
        "method": method,
        "treatment_mean": mean_t,
        "control_mean": mean_c,
        "lift": mean_t - mean_c,
        "lift_low": float(low),
        "lift_high": float(high),
        "relative_lift": mean_t / mean_c - 1 if mean_c else np.nan,
        "relative_low": float(ratio_low),
        "relative_high": float(ratio_high),
        "p_value": float(p_value) if np.isfinite(p_value) else 1.0,
    }


def bootstrap_means(
    treated: np.ndarray, control: np.ndarray, resamples: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap differences and relative differences of the means, a block of resamples
    at a time so memory stays bounded."""
    rng = np.random.default_rng(seed)
    per_block = max(1, BOOTSTRAP_CELLS // max(treated.size, control.size))
    diffs, ratios = [], []
    for first in range(0, resamples, per_block):
        size = min(per_block, resamples - first)
        mean_t = treated[rng.integers(0, treated.size, (size, treated.size))].mean(axis=1)
        mean_c = control[rng.integers(0, control.size, (size, control.size))].mean(axis=1)
        diffs.append(mean_t - mean_c)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios.append(mean_t / mean_c - 1)
    return np.concatenate(diffs), np.concatenate(ratios)


def delta_ratio_interval(
    treated: np.ndarray, control: np.ndarray, alpha: float
) -> tuple[float, float]:
    """Delta-method interval of mean_t / mean_c - 1 on the log scale (positive means)."""
    mean_t, mean_c = treated.mean(), control.mean()
    if mean_t <= 0 or mean_c <= 0:
        return np.nan, np.nan
    se = np.sqrt(
        treated.var(ddof=1) / (treated.size * mean_t**2)
        + control.var(ddof=1) / (control.size * mean_c**2)
    )
    z = stats.norm.ppf(1 - alpha / 2)
    ratio = mean_t / mean_c
    return float(ratio * np.exp(-z * se) - 1), float(ratio * np.exp(z * se) - 1)


def estimate_lift(
    outcomes: pd.DataFrame,
    treatment: str,
    control: str,
    binary: bool,
    alpha: float = 0.05,
    resamples: int = 2000,
    seed: int = 0,
    column: str = OUTCOME,
) -> dict:
    """Lift of ``treatment`` over ``control`` on ``column``: rates or bootstrapped means."""
    groups = outcomes[GROUP]
    treated = outcomes.loc[groups == treatment, column].to_numpy(dtype=float)
    controls = outcomes.loc[groups == control, column].to_numpy(dtype=float)
    if treated.size < 2 or controls.size < 2:
        raise DataValidationError(
            f"lift needs at least 2 customers in each group; '{treatment}' has {treated.size},"
            f" '{control}' has {controls.size}"
        )
    numbers = (
        compare_rates(treated, controls, alpha)
        if binary
        else compare_means(treated, controls, alpha, resamples, seed)
    )
    return {
        "treatment": treatment,
        "control": control,
        "n_treatment": treated.size,
        "n_control": controls.size,
        **numbers,
    }


def estimate_cuped_lift(
    outcomes: pd.DataFrame,
    treatment: str,
    control: str,
    alpha: float = 0.05,
    covariate: str = PRE_OUTCOME,
) -> tuple[dict, Cuped]:
    """Lift on CUPED-adjusted outcomes (Welch intervals; the adjusted values are continuous)."""
    pair = outcomes[outcomes[GROUP].isin([treatment, control])]
    cuped = adjust_cuped(pair[OUTCOME], pair[covariate])
    adjusted = pair.assign(adjusted=cuped.adjusted)
    lift = estimate_lift(adjusted, treatment, control, False, alpha, resamples=0, column="adjusted")
    return {**lift, "method": "cuped"}, cuped


def split_groups(outcomes: pd.DataFrame, control: str) -> list[str]:
    """The treatment arms (every group but ``control``), checking that control exists."""
    groups = sorted(outcomes[GROUP].astype(str).unique())
    if control not in groups:
        raise DataValidationError(
            f"lift: no customers in the control group '{control}' (column 'group' holds "
            f"{', '.join(groups)}); set lift.control"
        )
    arms = [group for group in groups if group != control]
    if not arms:
        raise DataValidationError(f"lift: only the control group '{control}' was assigned")
    return arms


def segment_lift(
    outcomes: pd.DataFrame,
    segments: pd.DataFrame,
    columns: Sequence[str],
    treatment: str,
    control: str,
    binary: bool,
    alpha: float = 0.05,
    correction: str = "holm",
    resamples: int = 2000,
    seed: int = 0,
    min_size: int = 10,
) -> pd.DataFrame:
    """Lift within each level of each segment column, p-values corrected over all of them.

    Levels with fewer than ``min_size`` customers in either group are left out (no test).
    """
    if correction not in CORRECTIONS:
        raise ConfigError(
            f"lift.correction must be one of {', '.join(CORRECTIONS)}, got '{correction}'"
        )
    joined = outcomes.merge(segments, on="customer_id", how="left", validate="1:1")
    rows = []
    for column in columns:
        levels = joined[column].astype("str").fillna("unknown")
        sizes = pd.crosstab(levels, joined[GROUP])
        for level in sizes.index:
            if min(sizes.loc[level].get(treatment, 0), sizes.loc[level].get(control, 0)) < min_size:
                continue
            within = joined[levels == level]
            lift = estimate_lift(within, treatment, control, binary, alpha, resamples, seed)
            rows.append({"segment": column, "level": level, **lift})
    table = pd.DataFrame(rows, columns=["segment", "level", *LIFT_COLUMNS])
    method = CORRECTIONS[correction]
    if table.empty or method is None:
        corrected = table["p_value"]
    else:
        corrected = multipletests(table["p_value"], alpha=alpha, method=method)[1]
    return table.assign(p_adjusted=corrected, significant=lambda frame: frame.p_adjusted < alpha)


def describe_lift(lift: Mapping, outcome_name: str, binary: bool, alpha: float = 0.05) -> str:
    """One sentence: direction, size, interval and whether the interval excludes zero."""
    scale, unit = (100.0, " points") if binary else (1.0, "")
    confidence = f"{100 * (1 - alpha):.0f}% CI"
    size = abs(lift["lift"]) * scale
    interval = f"({confidence} {lift['lift_low'] * scale:.1f} to {lift['lift_high'] * scale:.1f})"
    who = lift["treatment"]
    if lift["p_value"] < alpha and lift["lift_low"] * lift["lift_high"] > 0:
        verb = "raised" if lift["lift"] > 0 else "lowered"
        return f"{who} {verb} {outcome_name} by {size:.1f}{unit} {interval}; significant"
    return (
        f"no detectable effect of {who} on {outcome_name}: {lift['lift'] * scale:+.1f}{unit}"
        f" {interval}, p = {lift['p_value']:.3f}"
    )


def describe_sample_ratio(check: pd.DataFrame) -> str:
    """The warning for a flagged sample-ratio mismatch, else an empty string."""
    if not check["flagged"].any():
        return ""
    observed = ", ".join(
        f"{group} {share:.1%}"
        for group, share in zip(check[GROUP], check["observed_share"], strict=True)
    )
    planned = ", ".join(
        f"{group} {share:.1%}"
        for group, share in zip(check[GROUP], check["expected_share"], strict=True)
    )
    return (
        f"WARNING: sample ratio mismatch (chi-square p = {check['p_value'].iloc[0]:.2g}): "
        f"observed {observed}, planned {planned}. The assignment or its logging is broken; "
        f"do not trust the lift below."
    )


def minimum_detectable_effect(
    baseline: float, n_per_group: float, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> float:
    """Smallest rise of a rate above ``baseline`` that a two-sided test detects with ``power``
    (arcsine effect size, Cohen's h), with ``n_per_group`` control customers and ``ratio``
    treated per control."""
    check_rate(baseline)
    h = NormalIndPower().solve_power(
        effect_size=None, nobs1=n_per_group, alpha=alpha, power=power, ratio=ratio
    )
    angle = min(np.arcsin(np.sqrt(baseline)) + h / 2, np.pi / 2)
    return float(np.sin(angle) ** 2 - baseline)


def required_sample_size(
    baseline: float, effect: float, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> float:
    """Control customers needed to detect a rise of ``effect`` over the ``baseline`` rate
    (``ratio`` treated per control)."""
    check_rate(baseline)
    check_rate(baseline + effect)
    h = proportion_effectsize(baseline + effect, baseline)
    return float(
        NormalIndPower().solve_power(
            effect_size=h, nobs1=None, alpha=alpha, power=power, ratio=ratio
        )
    )


def minimum_detectable_difference(
    std: float, n_per_group: float, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> float:
    """Smallest difference of means detectable for an outcome with standard deviation ``std``."""
    d = NormalIndPower().solve_power(
        effect_size=None, nobs1=n_per_group, alpha=alpha, power=power, ratio=ratio
    )
    return float(d * std)


def required_sample_size_means(
    std: float, effect: float, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> float:
    """Control customers needed to detect a difference of means ``effect``."""
    return float(
        NormalIndPower().solve_power(
            effect_size=effect / std, nobs1=None, alpha=alpha, power=power, ratio=ratio
        )
    )


def check_rate(rate: float) -> None:
    """A baseline or target rate must lie strictly between 0 and 1."""
    if not 0 < rate < 1:
        raise ConfigError(f"power: rates must lie strictly between 0 and 1, got {rate}")
