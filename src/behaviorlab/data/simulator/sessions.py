"""Sessions and the events inside them, all customers of a block at once."""

from dataclasses import dataclass

import numpy as np

from behaviorlab.data.simulator import params
from behaviorlab.data.simulator.clock import Clock
from behaviorlab.data.simulator.population import Population
from behaviorlab.data.simulator.states import DISENGAGED, Paths

SECONDS_PER_DAY = 86_400.0
MICROSECONDS_PER_DAY = 86_400_000_000
BROWSE_EVENTS = ("page_view", "product_view", "search", "support_contact", "error")
SESSION_FILL = 0.999
ORDER_KEY_SPAN = 8.0


@dataclass(frozen=True)
class Sessions:
    """Sessions sorted by customer and time; ``time`` is calendar UTC days since the origin."""

    owner: np.ndarray
    state: np.ndarray
    time: np.ndarray
    upgrade: np.ndarray


@dataclass(frozen=True)
class Events:
    """Events sorted by customer and time; ``timestamp`` is microseconds since the origin."""

    owner: np.ndarray
    session: np.ndarray
    code: np.ndarray
    timestamp: np.ndarray
    amount: np.ndarray


def first_of_each(owner: np.ndarray, flagged: np.ndarray) -> np.ndarray:
    """Indices of the first flagged row of each owner (rows sorted by owner)."""
    candidates = np.flatnonzero(flagged)
    _, first = np.unique(owner[candidates], return_index=True)
    return candidates[first]


def draw_sessions(
    rng: np.random.Generator, population: Population, paths: Paths, clock: Clock
) -> Sessions:
    """Poisson session starts in activity time within each state interval, plus one at signup.

    Each session of a customer who can still convert carries an upgrade with the customer's
    conversion probability; only the first such session per customer keeps it.
    """
    activity = np.where(paths.state == DISENGAGED, params.DISENGAGED_ACTIVITY, 1.0)
    length = paths.finish - paths.begin
    counts = rng.poisson(population.session_rate[paths.owner] * activity * length)
    owner = np.concatenate([np.repeat(paths.owner, counts), np.arange(len(population))])
    state = np.concatenate([np.repeat(paths.state, counts), population.start_state])
    start = np.concatenate(
        [
            np.repeat(paths.begin, counts) + rng.random(counts.sum()) * np.repeat(length, counts),
            population.signup,
        ]
    )
    by_start = np.argsort(start)
    order = by_start[np.argsort(owner[by_start], kind="stable")]
    return order_sessions(rng, population, clock, owner[order], state[order], start[order])


def order_sessions(
    rng: np.random.Generator,
    population: Population,
    clock: Clock,
    owner: np.ndarray,
    state: np.ndarray,
    start: np.ndarray,
) -> Sessions:
    """Sessions already ordered by customer then start: local times, and each customer's
    first upgrade among the sessions that convert."""
    time = clock.to_local(start) - population.offset[owner]
    convert = population.convert_prob[owner] * np.where(
        state == DISENGAGED, params.CONVERT_WHEN_DISENGAGED, 1.0
    )
    upgrade = np.zeros(owner.size, dtype=bool)
    upgrade[first_of_each(owner, rng.random(owner.size) < convert)] = True
    return Sessions(owner=owner, state=state, time=time, upgrade=upgrade)


def draw_event_counts(
    rng: np.random.Generator, population: Population, sessions: Sessions
) -> np.ndarray:
    """How many events of each type (columns follow ``params.EVENTS``) each session holds."""
    n = sessions.owner.size
    segment = population.segment[sessions.owner]
    disengaged = sessions.state == DISENGAGED
    browse = np.where(disengaged, params.DISENGAGED_BROWSING, 1.0)
    cart_factor = np.where(disengaged, params.DISENGAGED_CART, 1.0)
    support_factor = np.where(disengaged, params.DISENGAGED_SUPPORT, 1.0)
    code = params.EVENT_CODE
    counts = np.zeros((n, len(params.EVENTS)), dtype=np.int64)
    counts[:, code["login"]] = rng.random(n) < params.LOGIN_PROB
    counts[:, code["page_view"]] = 1 + rng.poisson(params.EXTRA_PAGE_VIEWS[segment] * browse)
    counts[:, code["product_view"]] = rng.poisson(params.PRODUCT_VIEWS[segment] * browse)
    counts[:, code["search"]] = rng.poisson(params.SEARCHES[segment] * browse)
    carts = rng.random(n) < params.CART_PROB[segment] * cart_factor
    counts[:, code["add_to_cart"]] = carts * (1 + rng.poisson(0.3, n))
    checkout = carts & (rng.random(n) < params.CHECKOUT_PROB[segment])
    counts[:, code["checkout"]] = checkout
    counts[:, code["purchase"]] = checkout & (rng.random(n) < params.PURCHASE_PROB[segment])
    counts[:, code["upgrade"]] = sessions.upgrade
    platform = population.platform[sessions.owner]
    error = rng.random(n) < params.ERROR_PROB * params.ERROR_BY_PLATFORM[platform]
    counts[:, code["error"]] = error
    support = params.SUPPORT_PROB * support_factor + params.SUPPORT_AFTER_ERROR * error
    counts[:, code["support_contact"]] = rng.random(n) < support
    return counts


def order_keys(rng: np.random.Generator, codes: np.ndarray, first_page_view: np.ndarray):
    """Position of each event in its session: login, landing page, browsing, then the funnel."""
    base = np.zeros(len(params.EVENTS))
    browse = [params.EVENT_CODE[name] for name in BROWSE_EVENTS]
    base[browse] = 1.0
    base[params.EVENT_CODE["add_to_cart"]] = 2.0
    base[params.EVENT_CODE["checkout"]] = 3.0
    base[params.EVENT_CODE["purchase"]] = 4.0
    base[params.EVENT_CODE["upgrade"]] = 4.5
    spread = np.isin(codes, [*browse, params.EVENT_CODE["add_to_cart"]])
    keys = base[codes] + spread * rng.random(codes.size)
    keys[first_page_view] = 0.5
    return keys


def session_limits(sessions: Sessions, churn: np.ndarray, end: float) -> np.ndarray:
    """Latest time (calendar days) a session's events may reach, exclusive.

    A session never crosses a UTC midnight (so a label window starting at midnight holds
    exactly the sessions that start in it), never runs into the customer's next session,
    churn or the end of the period.
    """
    next_start = np.append(sessions.time[1:], np.inf)
    last_of_owner = np.append(sessions.owner[1:] != sessions.owner[:-1], True)
    next_start[last_of_owner] = np.inf
    midnight = np.floor(sessions.time) + 1.0
    return np.minimum.reduce(
        [next_start, midnight, churn[sessions.owner], np.full_like(midnight, end)]
    )


def to_microseconds(days: np.ndarray) -> np.ndarray:
    """Calendar days since the origin as whole microseconds (rounded down)."""
    return np.floor(days * MICROSECONDS_PER_DAY).astype(np.int64)


def draw_offsets(
    rng: np.random.Generator, per_session: np.ndarray, session_first: np.ndarray
) -> np.ndarray:
    """Days from each event's session start: lognormal gaps of seconds to minutes."""
    gaps = np.exp(
        np.log(params.EVENT_GAP_MEDIAN_SECONDS)
        + params.EVENT_GAP_SIGMA * rng.standard_normal(per_session.sum())
    )
    gaps[session_first] = 0.0
    elapsed = np.cumsum(gaps / SECONDS_PER_DAY)
    return elapsed - np.repeat(elapsed[session_first], per_session)


def draw_amounts(
    rng: np.random.Generator, population: Population, owner: np.ndarray, codes: np.ndarray
) -> np.ndarray:
    """Purchase amounts around each customer's spend level (NaN on other events)."""
    purchase = codes == params.EVENT_CODE["purchase"]
    amount = np.full(codes.size, np.nan)
    spend = population.spend_log[owner[purchase]]
    noise = params.SPEND_PURCHASE_SIGMA * rng.standard_normal(purchase.sum())
    amount[purchase] = np.round(np.exp(spend + noise), 2)
    return amount


def draw_events(
    rng: np.random.Generator,
    population: Population,
    sessions: Sessions,
    signup: np.ndarray,
    churn: np.ndarray,
    end: float,
) -> Events:
    """Expand sessions into timed events with amounts on purchases.

    ``signup``, ``churn`` (inf when none) and ``end`` are calendar days since the origin.
    A session that would overrun its limit is compressed to fit.
    """
    counts = draw_event_counts(rng, population, sessions)
    per_session = counts.sum(axis=1)
    session = np.repeat(np.arange(per_session.size), per_session)
    codes = np.repeat(np.tile(np.arange(len(params.EVENTS)), per_session.size), counts.ravel())
    session_first = np.concatenate([[0], np.cumsum(per_session)[:-1]])
    first_page_view = session_first + counts[:, params.EVENT_CODE["login"]]
    keys = order_keys(rng, codes, first_page_view)
    codes = codes[np.argsort(session * ORDER_KEY_SPAN + keys, kind="stable")]

    offset = draw_offsets(rng, per_session, session_first)
    duration = offset[np.append(session_first[1:], session.size) - 1]
    limit = session_limits(sessions, churn, end)
    room = (limit - sessions.time) * SESSION_FILL
    scale = np.minimum(1.0, np.divide(room, duration, out=np.ones_like(room), where=duration > 0))
    owner = sessions.owner[session]
    timestamp = np.clip(
        to_microseconds(sessions.time[session] + offset * scale[session]),
        to_microseconds(signup)[owner],
        to_microseconds(limit)[session] - 1,
    )
    amount = draw_amounts(rng, population, owner, codes)
    return Events(owner=owner, session=session, code=codes, timestamp=timestamp, amount=amount)
