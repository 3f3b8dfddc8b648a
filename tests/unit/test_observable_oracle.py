"""The observable oracle: exact against a brute-force filter, sensible on simulated data."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from behaviorlab.data.simulator import params, simulate
from behaviorlab.data.simulator.clock import build_clock
from behaviorlab.data.simulator.observable import RateChange, observable_churn_probability
from behaviorlab.data.simulator.population import draw_population

STEP = 0.002
CUTOFF = 40.0
WINDOW = 30.0
PERIOD = {"start": "2024-01-01", "end": "2025-06-30"}


def tiny_population(n: int, session: float, disengage: float, churn: float, recover: float):
    """``n`` casual browsers who sign up at activity time 0 with the given rates."""
    population = draw_population(
        np.random.default_rng(0), n, build_clock(np.datetime64("2024-01-01"), 200), 1.0, 2.0
    )
    full = np.ones(n)
    return replace(
        population,
        segment=np.full(n, params.SEGMENTS.index("casual_browser"), dtype=np.int8),
        signup=np.zeros(n),
        session_rate=session * full,
        disengage_rate=disengage * full,
        churn_rate=churn * full,
        recover_rate=recover * full,
    )


def euler_generator(population) -> np.ndarray:
    """Each customer's 3-state chain generator (active, disengaging, churned)."""
    n = len(population)
    generator = np.zeros((n, 3, 3))
    generator[:, 0, 1] = population.disengage_rate
    generator[:, 1, 0] = population.recover_rate
    generator[:, 1, 2] = population.churn_rate
    generator[:, 0, 0] = -population.disengage_rate
    generator[:, 1, 1] = -(population.recover_rate + population.churn_rate)
    return generator


def brute_force(population, arrivals: list[list[float]], step=STEP, earlier=None, switch=np.inf):
    """A discrete-time HMM on a grid of ``step`` days: transition I + Q dt, a session in a
    step with probability a dt, none with exp(-a dt); the horizon stepped the same way.
    Arrivals sit on grid points, so the only error is the first-order time step."""
    steps_to_cutoff = round(CUTOFF / step)
    total = steps_to_cutoff + round(WINDOW / step)
    hits = np.zeros((len(arrivals), total + 1), dtype=bool)
    for customer, times in enumerate(arrivals):
        hits[customer, np.round(np.asarray(times) / step).astype(int)] = True
    rate = population.session_rate[:, None] * np.array([1.0, params.DISENGAGED_ACTIVITY, 0.0])
    later = np.eye(3) + euler_generator(population) * step
    before = later if earlier is None else np.eye(3) + euler_generator(earlier) * step
    disengaged = params.START_DISENGAGED[population.segment]
    forward = np.stack([1 - disengaged, disengaged, np.zeros(len(arrivals))], axis=1)
    for k in range(1, total + 1):
        transition = before if k * step <= switch else later
        forward = np.einsum("ni,nij->nj", forward, transition)
        seen = hits[:, k][:, None]
        forward = forward * np.where(seen, rate * step, np.exp(-rate * step))
        if k == steps_to_cutoff:
            forward = forward / forward.sum(axis=1, keepdims=True)
    return forward.sum(axis=1)


def flatten(arrivals: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    owner = np.concatenate([np.full(len(times), i) for i, times in enumerate(arrivals)])
    return owner.astype(np.int64), np.concatenate(arrivals).astype(np.float64)


# A regular customer, one who went silent after a busy start, one who comes back rarely.
ARRIVALS = [
    [float(t) for t in np.arange(1.0, 39.5, 0.75)],
    [0.5, 1.25, 2.0, 3.5, 4.0, 6.25, 8.0],
    [4.0, 11.5, 20.0, 31.0, 38.0],
]


def test_filter_matches_a_brute_force_discrete_filter():
    population = tiny_population(3, session=1.2, disengage=0.05, churn=0.08, recover=0.04)
    got = observable_churn_probability(
        population, *flatten(ARRIVALS), np.full(3, CUTOFF), np.full(3, WINDOW)
    )
    # The grid filter is first order in its step: halving the step must bring it closer to
    # the exact filter, and at 0.002 days (rates x step < 0.003) it must agree to 1e-3.
    coarse = np.abs(brute_force(population, ARRIVALS, step=2 * STEP) - got).max()
    fine = np.abs(brute_force(population, ARRIVALS) - got).max()
    assert fine < 1e-3
    assert fine < 0.75 * coarse
    assert got[0] < 0.1 < 0.9 < got[1]
    assert got[0] < got[2] < got[1]


def test_filter_follows_a_rate_change_at_a_date():
    before = tiny_population(3, session=0.5, disengage=0.02, churn=0.01, recover=0.04)
    after = replace(
        before, churn_rate=before.churn_rate * 15, disengage_rate=before.disengage_rate * 5
    )
    switch = 30.0
    expected = brute_force(after, ARRIVALS, earlier=before, switch=switch)
    change = RateChange(before=before, at=np.full(3, switch))
    got = observable_churn_probability(
        after, *flatten(ARRIVALS), np.full(3, CUTOFF), np.full(3, WINDOW), change
    )
    np.testing.assert_allclose(got, expected, atol=1e-3)
    unchanged = observable_churn_probability(
        after, *flatten(ARRIVALS), np.full(3, CUTOFF), np.full(3, WINDOW)
    )
    assert np.abs(got - unchanged).max() > 5e-3


def test_long_silence_after_signup_means_churn_and_no_signup_means_nan():
    population = tiny_population(3, session=0.3, disengage=0.01, churn=0.05, recover=0.02)
    population = replace(population, signup=np.array([0.0, 150.0, 250.0]))
    got = observable_churn_probability(
        population,
        np.array([1, 1], dtype=np.int64),
        np.array([195.0, 199.0]),
        np.full(3, 200.0),
        np.full(3, WINDOW),
    )
    assert got[0] > 0.95
    assert got[1] < 0.5
    assert np.isnan(got[2])


@pytest.fixture(scope="module")
def sim_rows():
    """Customers active in the 30 days before the oracle cutoff, their label and scores."""
    sim = simulate(n_customers=3000, seed=11, **PERIOD)
    cutoff = pd.Timestamp(sim.summary["oracle_cutoff"])
    horizon = pd.Timedelta(days=sim.summary["horizon_days"])
    events = sim.events
    before = events[events["timestamp"] < cutoff]
    per_customer = before.groupby("customer_id").agg(
        last=("timestamp", "max"), sessions=("session_id", "nunique"), first=("timestamp", "min")
    )
    recent = before[before["timestamp"] >= cutoff - horizon].groupby("customer_id")
    after = events[(events["timestamp"] >= cutoff) & (events["timestamp"] < cutoff + horizon)]
    rows = sim.truth.set_index("customer_id").join(per_customer, how="inner")
    rows["recent_sessions"] = recent["session_id"].nunique()
    rows = rows.dropna(subset=["recent_sessions"])
    rows["label"] = ~rows.index.isin(after["customer_id"].unique())
    days = pd.Timedelta(days=1)
    rows["recency"] = (cutoff - rows["last"]) / days
    rows["tenure"] = (cutoff - rows["first"]) / days
    return rows


def test_observable_oracle_is_calibrated(sim_rows):
    oracle = sim_rows["oracle_churn_observable"]
    assert oracle.between(0, 1).all()
    tolerance = 4 * np.sqrt((oracle * (1 - oracle)).sum()) / len(oracle)
    assert abs(sim_rows["label"].mean() - oracle.mean()) < tolerance


def test_observable_oracle_ranks_between_a_model_and_the_full_oracle(sim_rows):
    features = np.log1p(sim_rows[["recency", "sessions", "recent_sessions", "tenure"]])
    model = LogisticRegression().fit(features, sim_rows["label"])
    model_auc = roc_auc_score(sim_rows["label"], model.predict_proba(features)[:, 1])
    observable_auc = roc_auc_score(sim_rows["label"], sim_rows["oracle_churn_observable"])
    full_auc = roc_auc_score(sim_rows["label"], sim_rows["oracle_churn"])
    assert model_auc < observable_auc < full_auc


def test_treated_customers_are_filtered_with_their_rates_before_and_after_the_date():
    plain = simulate(n_customers=1500, seed=5, **PERIOD)
    treated = simulate(
        n_customers=1500,
        seed=5,
        **PERIOD,
        intervention={"date": "2025-02-01", "target": "churn", "factor": 4.0, "share": 0.5},
    )
    column = "oracle_churn_observable"
    both = plain.truth.set_index("customer_id")[[column]].join(
        treated.truth.set_index("customer_id")[[column]].add_suffix("_treated")
    )
    group = treated.assignments.set_index("customer_id")["group"]
    control = both.index.difference(group.index[group == "treatment"])
    pd.testing.assert_series_equal(
        both.loc[control, column], both.loc[control, f"{column}_treated"], check_names=False
    )
    chosen = group.index[group == "treatment"]
    assert len(chosen) > 100
    assert (both.loc[chosen, f"{column}_treated"] > both.loc[chosen, column]).mean() > 0.5
