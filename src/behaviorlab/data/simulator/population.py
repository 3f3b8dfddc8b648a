"""Customers: latent segment, attributes, signup time and the latent rates that drive them."""

from dataclasses import dataclass

import numpy as np

from behaviorlab.data.simulator import params
from behaviorlab.data.simulator.clock import HOURS_PER_DAY, Clock


@dataclass(frozen=True)
class Population:
    """One block of customers as parallel arrays (codes index the tuples in ``params``)."""

    segment: np.ndarray
    channel: np.ndarray
    plan: np.ndarray
    platform: np.ndarray
    country: np.ndarray
    offset: np.ndarray
    signup: np.ndarray
    end: np.ndarray
    session_rate: np.ndarray
    disengage_rate: np.ndarray
    churn_rate: np.ndarray
    recover_rate: np.ndarray
    convert_prob: np.ndarray
    spend_log: np.ndarray
    start_state: np.ndarray

    def __len__(self) -> int:
        return self.segment.size


def draw_categories(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One category code per row of ``probabilities`` (rows sum to 1), by inverse CDF."""
    cumulative = np.cumsum(probabilities, axis=-1)
    codes = (rng.random(probabilities.shape[0])[:, None] > cumulative).sum(axis=1)
    return np.minimum(codes, probabilities.shape[1] - 1).astype(np.int8)


def draw_lognormal_factor(rng: np.random.Generator, sigma: float, n: int) -> np.ndarray:
    """Multiplicative noise with median 1, so segment tables stay the medians."""
    return np.exp(sigma * rng.standard_normal(n))


def draw_population(
    rng: np.random.Generator, n: int, clock: Clock, start: float, end: float
) -> Population:
    """Draw ``n`` customers who sign up in [start, end) (calendar days since the clock origin).

    Signups are uniform in activity time, so they follow the same daily rhythm as sessions.
    """
    segment = draw_categories(rng, np.broadcast_to(params.SEGMENT_SHARE, (n, 4)))
    channel = draw_categories(rng, params.CHANNEL_BY_SEGMENT[segment])
    plan = draw_categories(rng, params.PLAN_BY_SEGMENT[segment])
    platform = draw_categories(rng, params.PLATFORM_BY_SEGMENT[segment])
    country = draw_categories(
        rng, np.broadcast_to(params.COUNTRY_SHARE, (n, params.COUNTRY_SHARE.size))
    )
    offset = params.COUNTRY_UTC_OFFSET_HOURS[country] / HOURS_PER_DAY
    first = clock.to_activity(start + offset)
    last = clock.to_activity(end + offset)
    signup = first + rng.random(n) * (last - first)

    session_rate = (
        params.SESSION_RATE[segment]
        * params.SESSION_RATE_BY_PLATFORM[platform]
        * params.SESSION_RATE_BY_PLAN[plan]
        * draw_lognormal_factor(rng, params.SESSION_RATE_SIGMA, n)
    )
    disengage_rate = (
        params.DISENGAGE_RATE[segment]
        * params.DISENGAGE_BY_CHANNEL[channel]
        * params.DISENGAGE_BY_PLAN[plan]
        * params.DISENGAGE_BY_PLATFORM[platform]
        * params.DISENGAGE_BY_COUNTRY[country]
        * draw_lognormal_factor(rng, params.DISENGAGE_SIGMA, n)
    )
    churn_rate = params.CHURN_RATE[segment] * draw_lognormal_factor(rng, params.CHAIN_SIGMA, n)
    recover_rate = params.RECOVER_RATE[segment] * draw_lognormal_factor(rng, params.CHAIN_SIGMA, n)
    convert_prob = np.minimum(
        params.CONVERT_BY_PLAN[plan]
        * params.CONVERT_BY_SEGMENT[segment]
        * params.CONVERT_BY_CHANNEL[channel]
        * draw_lognormal_factor(rng, params.CONVERT_SIGMA, n),
        1.0,
    )
    spend_log = np.log(params.SPEND_MEDIAN[segment]) + params.SPEND_CUSTOMER_SIGMA * (
        rng.standard_normal(n)
    )
    start_state = (rng.random(n) < params.START_DISENGAGED[segment]).astype(np.int8)
    return Population(
        segment=segment,
        channel=channel,
        plan=plan,
        platform=platform,
        country=country,
        offset=offset,
        signup=signup,
        end=last,
        session_rate=session_rate,
        disengage_rate=disengage_rate,
        churn_rate=churn_rate,
        recover_rate=recover_rate,
        convert_prob=convert_prob,
        spend_log=spend_log,
        start_state=start_state,
    )
