"""Oracle probabilities: exact label probabilities under the simulator's own model.

Sessions are Poisson in activity time with a rate set by the latent state, and the state
is a Markov chain, so "no arrival in a window" is a Markov-modulated Poisson question:
P(no arrival in L | state s) = [expm((Q - diag(a)) L) 1]_s, with Q the chain's generator and
a the arrival rate in each state. Churned is absorbing with no arrivals.
"""

import numpy as np

from behaviorlab.data.simulator import params
from behaviorlab.data.simulator.population import Population
from behaviorlab.data.simulator.states import ACTIVE, CHURNED, DISENGAGED

TAYLOR_TERMS = 14
SCALED_NORM = 0.5


def expm_batch(matrices: np.ndarray) -> np.ndarray:
    """Matrix exponentials of a stack of small matrices (scaling and squaring, Taylor).

    SciPy's ``expm`` loops over a stack in Python; this stays vectorised. Each matrix is
    scaled below norm 0.5, where 14 Taylor terms are exact to rounding, then squared back.
    """
    norm = np.abs(matrices).sum(axis=2).max(axis=1)
    squarings = np.maximum(0, np.ceil(np.log2(np.maximum(norm, 1e-300) / SCALED_NORM)))
    scaled = matrices / (2.0**squarings)[:, None, None]
    identity = np.broadcast_to(np.eye(matrices.shape[1]), matrices.shape)
    result, term = identity.copy(), identity.copy()
    for k in range(1, TAYLOR_TERMS + 1):
        term = term @ scaled / k
        result = result + term
    for step in range(int(squarings.max(initial=0))):
        more = squarings > step
        result[more] = result[more] @ result[more]
    return result


def sub_generator(
    population: Population, arrival_active: np.ndarray, arrival_disengaged: np.ndarray
) -> np.ndarray:
    """Q - diag(a) per customer: the chain's generator minus each state's arrival rate."""
    n = len(population)
    disengage, churn, recover = (
        population.disengage_rate,
        population.churn_rate,
        population.recover_rate,
    )
    generator = np.zeros((n, 3, 3))
    generator[:, ACTIVE, ACTIVE] = -disengage - arrival_active
    generator[:, ACTIVE, DISENGAGED] = disengage
    generator[:, DISENGAGED, ACTIVE] = recover
    generator[:, DISENGAGED, DISENGAGED] = -(recover + churn) - arrival_disengaged
    generator[:, DISENGAGED, CHURNED] = churn
    return generator


def no_arrival_probability(
    population: Population,
    state: np.ndarray,
    window: np.ndarray,
    arrival_active: np.ndarray,
    arrival_disengaged: np.ndarray,
) -> np.ndarray:
    """P(no arrival within ``window`` activity days) per customer; NaN before signup."""
    n = len(population)
    generator = sub_generator(population, arrival_active, arrival_disengaged)
    probability = np.full(n, np.nan)
    alive = (state == ACTIVE) | (state == DISENGAGED)
    survival = expm_batch(generator[alive] * window[alive, None, None]).sum(axis=2)
    probability[alive] = survival[np.arange(alive.sum()), state[alive]]
    probability[state == CHURNED] = 1.0
    return np.clip(probability, 0.0, 1.0)


def session_rates(population: Population) -> tuple[np.ndarray, np.ndarray]:
    """Session rates while active and while disengaging (sessions always hold events)."""
    rate = population.session_rate
    return rate, rate * params.DISENGAGED_ACTIVITY


def churn_probability(population: Population, state: np.ndarray, window: np.ndarray) -> np.ndarray:
    """P(no event of any kind in the window): no session, since every session has events."""
    return no_arrival_probability(population, state, window, *session_rates(population))


def conversion_probability(
    population: Population, state: np.ndarray, window: np.ndarray, converted: np.ndarray
) -> np.ndarray:
    """P(an upgrade in the window) for customers not converted yet (NaN for the converted)."""
    rate = population.session_rate * population.convert_prob
    disengaged = rate * params.DISENGAGED_ACTIVITY * params.CONVERT_WHEN_DISENGAGED
    probability = 1.0 - no_arrival_probability(population, state, window, rate, disengaged)
    probability[converted] = np.nan
    return probability
