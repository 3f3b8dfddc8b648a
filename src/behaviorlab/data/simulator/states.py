"""The latent churn chain: active <-> disengaging -> churned, in continuous activity time."""

from dataclasses import dataclass

import numpy as np

from behaviorlab.data.simulator.population import Population

ACTIVE, DISENGAGED, CHURNED, NOT_SIGNED_UP = 0, 1, 2, -1
STATE_NAMES = {
    NOT_SIGNED_UP: "not_signed_up",
    ACTIVE: "active",
    DISENGAGED: "disengaging",
    CHURNED: "churned",
}


@dataclass(frozen=True)
class Paths:
    """Each customer's life as intervals of one state, from signup to churn or the end."""

    owner: np.ndarray
    state: np.ndarray
    begin: np.ndarray
    finish: np.ndarray
    churn: np.ndarray


def simulate_paths(rng: np.random.Generator, population: Population) -> Paths:
    """Run every customer's chain forward, one transition per step for all at once.

    Holding times are exponential, so the chain is memoryless: given the state at any time,
    what follows is independent of the past (what the oracle relies on).
    """
    n = len(population)
    churn = np.full(n, np.inf)
    pieces = []
    who = np.arange(n)
    now = population.signup.copy()
    state = population.start_state.copy()
    while who.size:
        leave_churn = population.churn_rate[who]
        leave_total = np.where(
            state == ACTIVE,
            population.disengage_rate[who],
            leave_churn + population.recover_rate[who],
        )
        then = now + rng.exponential(1.0, who.size) / leave_total
        churns = (state == DISENGAGED) & (rng.random(who.size) * leave_total < leave_churn)
        end = population.end[who]
        pieces.append((who, state, now, np.minimum(then, end)))
        goes_on = then < end
        churn[who[goes_on & churns]] = then[goes_on & churns]
        stays = goes_on & ~churns
        who, now, state = who[stays], then[stays], (1 - state[stays]).astype(np.int8)
    owner, states, begin, finish = (np.concatenate(column) for column in zip(*pieces, strict=True))
    return Paths(owner=owner, state=states, begin=begin, finish=finish, churn=churn)


def states_at(paths: Paths, signup: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Each customer's latent state at activity time ``at`` (per customer)."""
    state = np.full(signup.size, CHURNED, dtype=np.int8)
    inside = (paths.begin <= at[paths.owner]) & (at[paths.owner] < paths.finish)
    state[paths.owner[inside]] = paths.state[inside]
    state[at < signup] = NOT_SIGNED_UP
    return state
