"""The lift analysis against the simulator's known truth: coverage, A/A and a broken split.

Each seed simulates a small population with a randomised intervention whose true average
effect on 30-day retention is known in closed form. Bounds are binomial tails that a
correct analysis fails with probability below 1e-4 (bench/lift.py measures the rates).
"""

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf
from scipy import stats

from behaviorlab.analysis import lift
from behaviorlab.analysis.experiment import run_lift, run_power
from behaviorlab.analysis.outcomes import measure_outcomes
from behaviorlab.analysis.pipeline import Inputs
from behaviorlab.apps import simulate as simulate_app
from behaviorlab.apps.common import CONF_DIR
from behaviorlab.data.simulator import simulate, write_simulation
from behaviorlab.data.sources import load_dataset
from behaviorlab.errors import ConfigError
from tests.helpers import compose_config

SIZE = {"n_customers": 3000, "start": "2024-02-01", "end": "2024-05-16"}
EFFECT = {"date": "2024-04-15", "target": "churn", "factor": 0.3, "days": 30}
COVERAGE_SEEDS = 30
AA_SEEDS = 16
FAILURE = 1e-4


def estimate(seed: int, intervention: dict) -> tuple[dict, float]:
    """The raw lift on 30-day retention and the simulator's true average effect."""
    sim = simulate(seed=seed, intervention=intervention, **SIZE)
    outcomes = measure_outcomes(sim.events, sim.assignments, "retention", 30)
    return lift.estimate_lift(outcomes, "treatment", "control", True), sim.summary["true_effect"]


def settings(**changes) -> dict:
    """The lift defaults from conf/analysis/lift.yaml, small and quick."""
    defaults = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "analysis" / "lift.yaml").lift)
    grid = OmegaConf.load(CONF_DIR / "analysis" / "rfm.yaml").rfm.segments
    base = {**defaults, "rfm_grid": OmegaConf.to_container(grid), "bootstrap_resamples": 200}
    return {**base, **changes}


def test_intervals_cover_the_true_effect_in_most_seeds():
    covered = 0
    for seed in range(COVERAGE_SEEDS):
        result, truth = estimate(seed, EFFECT)
        covered += result["lift_low"] <= truth <= result["lift_high"]
    assert covered >= stats.binom.ppf(FAILURE, COVERAGE_SEEDS, 0.95)


def test_an_aa_split_rejects_at_about_the_nominal_rate():
    rejected = sum(
        estimate(100 + seed, {**EFFECT, "factor": 1.0})[0]["p_value"] < 0.05
        for seed in range(AA_SEEDS)
    )
    assert rejected <= stats.binom.isf(FAILURE, AA_SEEDS, 0.05)


def test_the_lift_analysis_reports_a_broken_ratio_first():
    sim = simulate(seed=3, intervention={**EFFECT, "share": 0.6}, **SIZE)
    inputs = Inputs(
        events=sim.events,
        customers=sim.customers,
        data_end=sim.events["timestamp"].max(),
        assignments=sim.assignments,
    )
    planned = {"control": 0.5, "treatment": 0.5}
    result = run_lift(inputs, settings(expected_split=planned))
    assert result.text.startswith("WARNING: sample ratio mismatch")
    assert result.tables["lift_sample_ratio"]["flagged"].all()
    assert result.metrics["lift_srm_flagged"] == 1.0
    fine = run_lift(inputs, settings(expected_split={"control": 0.4, "treatment": 0.6}))
    assert not fine.text.startswith("WARNING")
    overall = fine.tables["lift_overall"].set_index("method")
    truth = sim.summary["true_effect"]
    assert overall.loc["newcombe", "lift_low"] <= truth <= overall.loc["newcombe", "lift_high"]
    segments = fine.tables["lift_segments"]
    assert set(segments["segment"]) == {"acquisition_channel", "rfm"}
    assert (segments["p_adjusted"] >= segments["p_value"]).all()
    assert set(fine.figures) == {"lift_forest", "lift_groups"}


def test_control_customers_live_as_without_the_intervention(tmp_path):
    plain = simulate(seed=5, **SIZE)
    treated = simulate(seed=5, intervention=EFFECT, **SIZE)
    groups = treated.assignments.set_index("customer_id")["group"]
    control = groups.index[groups == "control"]
    date = pd.Timestamp(EFFECT["date"])

    def events_of(sim, ids, before=None):
        events = sim.events[sim.events["customer_id"].isin(ids)]
        if before is not None:
            events = events[events["timestamp"] < before]
        return events.reset_index(drop=True)

    pd.testing.assert_frame_equal(events_of(plain, control), events_of(treated, control))
    treatment = groups.index[groups == "treatment"]
    pd.testing.assert_frame_equal(
        events_of(plain, treatment, date), events_of(treated, treatment, date)
    )
    assert not events_of(plain, treatment).equals(events_of(treated, treatment))
    truth = treated.intervention_truth
    effect = truth["retention_treatment"] - truth["retention_control"]
    assert np.isclose(effect.mean(), treated.summary["true_effect"], atol=1e-6)
    assert (effect >= -1e-12).all()  # churning less can only raise retention


def test_written_assignments_load_with_the_dataset_and_feed_power(tmp_path):
    write_simulation(tmp_path, seed=2, intervention=EFFECT, **SIZE)
    data_cfg = {
        "name": "sim_intervention",
        "events": {"path": str(tmp_path / "events.parquet")},
        "customers": {"path": str(tmp_path / "customers.parquet")},
        "assignments": {"path": str(tmp_path / "assignments.parquet")},
        "validation": {},
    }
    dataset = load_dataset(data_cfg, now=pd.Timestamp("2024-05-16"))
    assert list(dataset.assignments.columns) == ["customer_id", "group", "assigned_at"]
    without = load_dataset({**data_cfg, "assignments": None}, now=pd.Timestamp("2024-05-16"))
    assert without.assignments is None
    assert without.fingerprint != dataset.fingerprint
    inputs = Inputs(
        events=dataset.events,
        customers=dataset.customers,
        data_end=dataset.data_end,
        assignments=dataset.assignments,
    )
    result = run_lift(inputs, settings(segments=["plan"]))
    assert result.tables["lift_groups"]["n"].sum() == len(dataset.assignments)
    power_cfg = OmegaConf.load(CONF_DIR / "analysis" / "power.yaml").power
    power = run_power(inputs, OmegaConf.to_container(power_cfg))
    baseline = power.tables["power_baseline"]["mean"].iloc[0]
    assert 0 < baseline < 1
    mde = power.tables["power_mde"]["mde"]
    assert mde.is_monotonic_decreasing


@pytest.mark.parametrize("key", ["facter", "date"])
def test_bad_intervention_settings_are_refused(key):
    spec = {**EFFECT, "facter": 2.0} if key == "facter" else {**EFFECT, "date": "2024-05-20"}
    with pytest.raises(ConfigError, match=r"simulate\.intervention"):
        simulate(seed=1, intervention=spec, **SIZE)


def test_assignment_can_be_limited_to_some_customers():
    sim = simulate(seed=4, intervention={**EFFECT, "only": {"plan": ["free", "trial"]}}, **SIZE)
    plans = sim.customers.set_index("customer_id").loc[sim.assignments["customer_id"], "plan"]
    assert set(plans.astype(str)) == {"free", "trial"}


def test_the_simulate_app_writes_the_experiment(tmp_path):
    intervention = "{date: '2025-04-01', target: disengage, factor: 2.0}"
    cfg = compose_config(
        "simulate", ["n_customers=500", f"out_dir={tmp_path}", f"intervention={intervention}"]
    )
    summary = simulate_app.run(cfg)
    truth = pd.read_parquet(tmp_path / "intervention_truth.parquet")
    assert summary["assigned"] == len(pd.read_parquet(tmp_path / "assignments.parquet"))
    assert summary["assigned"] == len(truth)
    assert summary["true_effect"] < 0  # disengaging faster lowers retention
    assert "experiment:" in simulate_app.format_summary(summary)
