"""Lift statistics against hand formulas and SciPy on small frames."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from behaviorlab.analysis import lift
from behaviorlab.analysis.experiment import run_lift
from behaviorlab.analysis.pipeline import Inputs
from behaviorlab.errors import ConfigError, DataValidationError

Z95 = stats.norm.ppf(0.975)


def rates_frame(count_t, n_t, count_c, n_c):
    outcome = [1] * count_t + [0] * (n_t - count_t) + [1] * count_c + [0] * (n_c - count_c)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n_t + n_c)],
            "group": ["treatment"] * n_t + ["control"] * n_c,
            "outcome": outcome,
        }
    )


def wilson(count, n, z=Z95):
    p = count / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_rate_lift_matches_newcombe_katz_and_the_chi_square_test():
    result = lift.estimate_lift(rates_frame(45, 150, 30, 140), "treatment", "control", True)
    p_t, p_c = 45 / 150, 30 / 140
    low_t, high_t = wilson(45, 150)
    low_c, high_c = wilson(30, 140)
    diff = p_t - p_c
    assert result["lift"] == pytest.approx(diff)
    assert result["lift_low"] == pytest.approx(diff - np.hypot(p_t - low_t, high_c - p_c))
    assert result["lift_high"] == pytest.approx(diff + np.hypot(high_t - p_t, p_c - low_c))
    se_log = np.sqrt(1 / 45 - 1 / 150 + 1 / 30 - 1 / 140)
    assert result["relative_lift"] == pytest.approx(p_t / p_c - 1)
    assert result["relative_low"] == pytest.approx(p_t / p_c * np.exp(-Z95 * se_log) - 1)
    assert result["relative_high"] == pytest.approx(p_t / p_c * np.exp(Z95 * se_log) - 1)
    table = [[45, 105], [30, 110]]
    assert result["p_value"] == pytest.approx(stats.chi2_contingency(table, correction=False)[1])
    assert (result["n_treatment"], result["n_control"]) == (150, 140)


def test_mean_lift_bootstrap_is_seeded_and_agrees_with_welch():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "group": ["treatment"] * 400 + ["control"] * 300,
            "outcome": np.concatenate([rng.gamma(2.0, 6.0, 400), rng.gamma(2.0, 5.0, 300)]),
        }
    )
    first = lift.estimate_lift(frame, "treatment", "control", False, resamples=3000, seed=1)
    again = lift.estimate_lift(frame, "treatment", "control", False, resamples=3000, seed=1)
    assert first == again
    treated = frame.loc[frame.group == "treatment", "outcome"]
    control = frame.loc[frame.group == "control", "outcome"]
    welch = stats.ttest_ind(treated, control, equal_var=False)
    assert first["p_value"] == pytest.approx(welch.pvalue)
    half = Z95 * np.sqrt(treated.var() / 400 + control.var() / 300)
    assert first["lift"] == pytest.approx(treated.mean() - control.mean())
    assert first["lift_high"] - first["lift_low"] == pytest.approx(2 * half, rel=0.1)
    assert first["lift_low"] < first["lift"] < first["lift_high"]
    assert first["relative_low"] < first["relative_lift"] < first["relative_high"]


def test_sample_ratio_mismatch_flags_a_broken_split():
    broken = lift.check_sample_ratio(
        {"treatment": 600, "control": 400}, {"treatment": 0.5, "control": 0.5}
    )
    chi2 = (600 - 500) ** 2 / 500 + (400 - 500) ** 2 / 500
    assert broken["chi2"].iloc[0] == pytest.approx(chi2)
    assert broken["p_value"].iloc[0] == pytest.approx(stats.chi2.sf(chi2, 1))
    assert broken["flagged"].all()
    assert lift.describe_sample_ratio(broken).startswith("WARNING: sample ratio mismatch")
    fine = lift.check_sample_ratio(
        {"treatment": 510, "control": 490}, {"treatment": 1, "control": 1}
    )
    assert not fine["flagged"].any()
    assert lift.describe_sample_ratio(fine) == ""
    planned = lift.check_sample_ratio(
        {"treatment": 600, "control": 400}, {"treatment": 60, "control": 40}
    )
    assert not planned["flagged"].any()
    with pytest.raises(ConfigError, match="'holdout'"):
        lift.check_sample_ratio({"holdout": 3, "control": 4}, {"treatment": 1, "control": 1})


def test_cuped_uses_the_pooled_regression_slope_and_reduces_variance():
    rng = np.random.default_rng(5)
    pre = rng.normal(10, 3, 2000)
    treated = np.arange(2000) % 2 == 0
    outcome = 0.8 * pre + rng.normal(0, 1.5, 2000) + 0.4 * treated
    frame = pd.DataFrame(
        {
            "group": np.where(treated, "treatment", "control"),
            "outcome": outcome,
            "pre_outcome": pre,
        }
    )
    cuped = lift.adjust_cuped(frame["outcome"], frame["pre_outcome"])
    assert cuped.theta == pytest.approx(np.polyfit(pre, outcome, 1)[0])
    assert cuped.adjusted.mean() == pytest.approx(outcome.mean())
    assert cuped.variance_reduction == pytest.approx(np.corrcoef(pre, outcome)[0, 1] ** 2)
    assert cuped.variance_reduction > 0.5
    adjusted, _ = lift.estimate_cuped_lift(frame, "treatment", "control")
    raw = lift.estimate_lift(frame, "treatment", "control", False, resamples=0)
    assert adjusted["lift_high"] - adjusted["lift_low"] < 0.6 * (raw["lift_high"] - raw["lift_low"])
    assert adjusted["lift_low"] < 0.4 < adjusted["lift_high"]


def test_segment_lift_applies_holm_over_every_level():
    rng = np.random.default_rng(9)
    n = 1200
    channel = np.array(["email", "organic", "paid"])[np.arange(n) % 3]
    treated = (np.arange(n) // 3) % 2 == 0
    rate = np.where(channel == "email", np.where(treated, 0.5, 0.3), 0.3)
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "group": np.where(treated, "treatment", "control"),
            "outcome": (rng.random(n) < rate).astype(int),
        }
    )
    segments = pd.DataFrame({"customer_id": frame["customer_id"], "channel": channel})
    table = lift.segment_lift(frame, segments, ["channel"], "treatment", "control", True)
    assert list(table["level"]) == ["email", "organic", "paid"]
    raw = table["p_value"].to_numpy()
    order = np.argsort(raw)
    holm = np.minimum(1, np.maximum.accumulate(raw[order] * (len(raw) - np.arange(len(raw)))))
    expected = np.empty_like(holm)
    expected[order] = holm
    np.testing.assert_allclose(table["p_adjusted"], expected)
    assert (table["p_adjusted"] >= table["p_value"]).all()
    assert table.set_index("level").loc["email", "significant"]
    bh = lift.segment_lift(
        frame, segments, ["channel"], "treatment", "control", True, correction="bh"
    )
    assert (bh["p_adjusted"] <= table["p_adjusted"] + 1e-12).all()
    with pytest.raises(ConfigError, match=r"lift\.correction"):
        lift.segment_lift(
            frame, segments, ["channel"], "treatment", "control", True, correction="x"
        )


def test_decision_sentences():
    significant = {
        "treatment": "treatment",
        "lift": 0.021,
        "lift_low": 0.008,
        "lift_high": 0.034,
        "p_value": 0.001,
    }
    assert lift.describe_lift(significant, "retention", True) == (
        "treatment raised retention by 2.1 points (95% CI 0.8 to 3.4); significant"
    )
    unclear = {**significant, "lift_low": -0.004, "p_value": 0.2}
    assert lift.describe_lift(unclear, "retention", True).startswith(
        "no detectable effect of treatment on retention: +2.1 points"
    )


def test_power_matches_the_normal_approximation():
    baseline, effect = 0.20, 0.03
    h = 2 * np.arcsin(np.sqrt(baseline + effect)) - 2 * np.arcsin(np.sqrt(baseline))
    n = lift.required_sample_size(baseline, effect, alpha=0.05, power=0.8)
    assert n == pytest.approx(2 * (Z95 + stats.norm.ppf(0.8)) ** 2 / h**2, rel=1e-3)
    assert lift.minimum_detectable_effect(baseline, n) == pytest.approx(effect, rel=1e-6)
    assert lift.minimum_detectable_effect(baseline, 4 * n) < effect
    std = 12.0
    assert lift.minimum_detectable_difference(std, 500) == pytest.approx(
        (Z95 + stats.norm.ppf(0.8)) * std * np.sqrt(2 / 500), rel=1e-3
    )
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        lift.required_sample_size(0.0, 0.1)


def test_missing_control_group_is_named():
    frame = rates_frame(3, 10, 2, 10)
    with pytest.raises(DataValidationError, match="'holdout'"):
        lift.split_groups(frame, "holdout")
    assert lift.split_groups(frame, "control") == ["treatment"]


def test_run_lift_reads_segments_from_a_score_table(tmp_path):
    n = 400
    ids = [f"c{i:03d}" for i in range(n)]
    treated = np.arange(n) % 2 == 0
    tier = np.where(np.arange(n) % 4 < 2, "high", "low")
    returns = (np.arange(n) % 5 < 2) | (treated & (tier == "high") & (np.arange(n) % 5 == 2))
    assigned = pd.Timestamp("2024-03-01")
    before = pd.DataFrame({"customer_id": ids, "timestamp": assigned - pd.Timedelta(days=3)})
    after = pd.DataFrame(
        {"customer_id": np.array(ids)[returns], "timestamp": assigned + pd.Timedelta(days=4)}
    )
    events = pd.concat([before, after], ignore_index=True).assign(
        event="page_view", timestamp=lambda frame: frame["timestamp"].astype("datetime64[us]")
    )
    assignments = pd.DataFrame(
        {
            "customer_id": ids,
            "group": np.where(treated, "treatment", "control"),
            "assigned_at": pd.Series([assigned] * n, dtype="datetime64[us]"),
        }
    )
    path = tmp_path / "scores.csv"
    pd.DataFrame({"customer_id": ids, "tier": tier}).to_csv(path, index=False)
    settings = {
        "outcome": {"kind": "retention", "events": [], "days": 10},
        "control": "control",
        "alpha": 0.05,
        "expected_split": None,
        "srm_alpha": 0.001,
        "correction": "holm",
        "segments": ["tier"],
        "segments_path": str(path),
        "min_segment_size": 10,
        "bootstrap_resamples": 100,
        "seed": 0,
        "cuped": False,
    }
    inputs = Inputs(events, None, pd.Timestamp("2024-03-20"), assignments=assignments)
    result = run_lift(inputs, settings)
    table = result.tables["lift_segments"].set_index("level")
    for level in ("high", "low"):
        within = tier == level
        expected = returns[within & treated].mean() - returns[within & ~treated].mean()
        assert table.loc[level, "lift"] == pytest.approx(expected)
    assert table.loc["low", "lift"] == pytest.approx(0.0)
    assert result.tables["lift_overall"]["method"].tolist() == ["newcombe"]
    with pytest.raises(ConfigError, match="'plan'"):
        run_lift(inputs, {**settings, "segments": ["plan"]})
    without_grid = run_lift(inputs, {**settings, "segments": ["rfm"], "rfm_grid": None})
    assert without_grid.text.endswith(
        "RFM segments skipped: no RFM grid (run the rfm analysis too,"
        " analysis=[lift,rfm], or set lift.rfm_grid)."
    )
    assert without_grid.tables["lift_segments"].empty
