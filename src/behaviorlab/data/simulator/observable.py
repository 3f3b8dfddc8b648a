"""The observable oracle: churn probability given only the sessions seen before the cutoff.

The full oracle knows each customer's latent state at the cutoff, which no model can see.
This one filters the state from what a model could see, the session start times before the
cutoff (in activity time), given the customer's true rates: a forward pass over a
Markov-modulated Poisson process. Between arrivals the joint probability of (state, no
arrival yet) evolves by expm((Q - diag(a)) dt); an arrival multiplies it by each state's
arrival rate a. The signup session is certain, so it carries no evidence: the chain starts
there from the segment's share of quick churners. The filtered state distribution at the
cutoff then weighs the full oracle's closed-form horizon probability of each state.
"""

from dataclasses import dataclass

import numpy as np

from behaviorlab.data.simulator import params
from behaviorlab.data.simulator.oracle import expm_batch, session_rates, sub_generator
from behaviorlab.data.simulator.population import Population
from behaviorlab.data.simulator.states import ACTIVE, DISENGAGED


@dataclass(frozen=True)
class RateChange:
    """Rates that held before activity time ``at`` (per customer, inf when they never
    changed), as after a treatment that changed some customers' rates from a date on."""

    before: Population
    at: np.ndarray


def pad_arrivals(owner: np.ndarray, at: np.ndarray, n: int) -> np.ndarray:
    """Arrival times (sorted by owner, then time) as an n-row matrix padded with NaN."""
    rank = np.arange(owner.size) - np.searchsorted(owner, owner)
    matrix = np.full((n, rank.max(initial=-1) + 1), np.nan)
    matrix[owner, rank] = at
    return matrix


def carry(forward: np.ndarray, generator: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Forward probabilities after ``length`` activity days without an arrival."""
    return np.einsum("ni,nij->nj", forward, expm_batch(generator * length[:, None, None]))


def carry_across(
    forward: np.ndarray,
    generator: np.ndarray,
    earlier: np.ndarray | None,
    switch: np.ndarray | None,
    begin: np.ndarray,
    end: np.ndarray,
) -> np.ndarray:
    """``carry`` from ``begin`` to ``end``, under ``earlier`` up to ``switch`` when given."""
    if earlier is None:
        return carry(forward, generator, end - begin)
    first = np.clip(switch - begin, 0.0, end - begin)
    return carry(carry(forward, earlier, first), generator, end - begin - first)


def filter_states(
    generator: np.ndarray,
    arrival: np.ndarray,
    prior: np.ndarray,
    start: np.ndarray,
    arrivals: np.ndarray,
    cutoff: np.ndarray,
    earlier: np.ndarray | None = None,
    switch: np.ndarray | None = None,
) -> np.ndarray:
    """P(state at ``cutoff`` | arrivals) per customer, an (n, states) matrix.

    ``generator`` holds each customer's Q - diag(a), ``arrival`` the rates a, ``prior`` the
    state distribution at ``start``; ``arrivals`` is padded with NaN after each customer's
    last arrival (all in (start, cutoff)). ``earlier`` is the sub-generator in force before
    ``switch``. Rows are renormalised after every arrival, so long histories do not underflow.
    """
    forward = prior.astype(np.float64)
    last = start.astype(np.float64)
    for column in arrivals.T:
        seen = ~np.isnan(column)
        step = (
            carry_across(
                forward[seen],
                generator[seen],
                None if earlier is None else earlier[seen],
                None if switch is None else switch[seen],
                last[seen],
                column[seen],
            )
            * arrival[seen]
        )
        forward[seen] = step / step.sum(axis=1, keepdims=True)
        last[seen] = column[seen]
    forward = carry_across(forward, generator, earlier, switch, last, cutoff)
    return forward / forward.sum(axis=1, keepdims=True)


def observable_churn_probability(
    population: Population,
    arrival_owner: np.ndarray,
    arrival_at: np.ndarray,
    cutoff: np.ndarray,
    window: np.ndarray,
    change: RateChange | None = None,
) -> np.ndarray:
    """P(no event within ``window`` activity days after ``cutoff``) given the sessions seen.

    ``arrival_owner``/``arrival_at`` are the sessions after signup and before the cutoff
    (activity time), sorted by owner and time. NaN for customers not signed up by the cutoff.
    """
    n = len(population)
    signed_up = population.signup < cutoff
    active, disengaged = session_rates(population)
    arrival = np.stack([active, disengaged, np.zeros(n)], axis=1)
    generator = sub_generator(population, active, disengaged)
    prior = np.zeros((n, 3))
    prior[:, DISENGAGED] = params.START_DISENGAGED[population.segment]
    prior[:, ACTIVE] = 1.0 - prior[:, DISENGAGED]
    keep = signed_up[arrival_owner]
    index = np.cumsum(signed_up) - 1
    earlier = switch = None
    if change is not None:
        earlier = sub_generator(change.before, *session_rates(change.before))[signed_up]
        switch = change.at[signed_up]
    state = filter_states(
        generator[signed_up],
        arrival[signed_up],
        prior[signed_up],
        population.signup[signed_up],
        pad_arrivals(index[arrival_owner[keep]], arrival_at[keep], int(signed_up.sum())),
        cutoff[signed_up],
        earlier,
        switch,
    )
    survival = expm_batch(generator[signed_up] * window[signed_up, None, None]).sum(axis=2)
    probability = np.full(n, np.nan)
    probability[signed_up] = np.clip((state * survival).sum(axis=1), 0.0, 1.0)
    return probability
