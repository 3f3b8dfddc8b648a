"""One block of customers, from random numbers to Arrow tables, independent of other blocks."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from behaviorlab.data import contract
from behaviorlab.data.simulator import intervention as trial
from behaviorlab.data.simulator import params
from behaviorlab.data.simulator.clock import Clock, build_clock
from behaviorlab.data.simulator.observable import RateChange, observable_churn_probability
from behaviorlab.data.simulator.oracle import churn_probability, conversion_probability
from behaviorlab.data.simulator.population import Population, draw_population
from behaviorlab.data.simulator.sessions import (
    MICROSECONDS_PER_DAY,
    Events,
    Sessions,
    draw_events,
    draw_sessions,
    to_microseconds,
)
from behaviorlab.data.simulator.states import STATE_NAMES, Paths, simulate_paths, states_at
from behaviorlab.errors import ConfigError

BLOCK_CUSTOMERS = 2000
ACTIVE_LOOKBACK_DAYS = 30
ORACLE_LEAD_DAYS = 60
TALLY_KEYS = (
    "events",
    "customers",
    "churned",
    "converted",
    "churn_eligible",
    "churn_labels",
    "churn_oracle",
    "conversion_eligible",
    "conversion_labels",
    "conversion_oracle",
)


@dataclass(frozen=True)
class Period:
    """The simulated period and oracle cutoff, as calendar days since a UTC midnight origin."""

    origin: np.datetime64
    clock: Clock
    start: float
    end: float
    cutoff: int
    horizon: int


@dataclass(frozen=True)
class Block:
    """The three output tables of one block and the counts its summary is built from."""

    events: pa.Table
    customers: pa.Table
    truth: pa.Table
    tally: dict
    assignments: pa.Table | None = None
    intervention_truth: pa.Table | None = None


def parse_time(value: str, name: str) -> pd.Timestamp:
    """A naive UTC timestamp from a config value, or a ConfigError naming the key."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"simulate: {name}={value!r} is not a date ({error})") from error
    if pd.isna(stamp):
        raise ConfigError(f"simulate: {name} is missing")
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp


def resolve_period(start: str, end: str, oracle_cutoff: str | None, horizon_days: int) -> Period:
    """Check the dates and place them on one day axis; the oracle cutoff defaults to end - 60d."""
    first, last = parse_time(start, "start"), parse_time(end, "end")
    if last <= first:
        raise ConfigError(f"simulate: end {last} must be after start {first}")
    cutoff = (
        last.normalize() - pd.Timedelta(days=ORACLE_LEAD_DAYS)
        if oracle_cutoff is None
        else parse_time(oracle_cutoff, "oracle_cutoff")
    )
    if cutoff != cutoff.normalize():
        raise ConfigError(f"simulate: oracle_cutoff {cutoff} must be a midnight")
    if not first < cutoff <= last - pd.Timedelta(days=horizon_days):
        raise ConfigError(
            f"simulate: oracle_cutoff {cutoff.date()} needs {horizon_days} days of data after it"
            f" inside [{first}, {last})"
        )
    origin = first.normalize() - pd.Timedelta(days=1)
    day = pd.Timedelta(days=1)
    n_days = (last - origin) // day + 2
    return Period(
        origin=np.datetime64(origin.to_datetime64(), "us"),
        clock=build_clock(np.datetime64(origin.to_datetime64(), "D"), int(n_days)),
        start=(first - origin) / day,
        end=(last - origin) / day,
        cutoff=int((cutoff - origin) // day),
        horizon=int(horizon_days),
    )


def block_generator(seed: int, block: int) -> np.random.Generator:
    """The random stream of one block: the same for a block whatever the chunking."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block,)))


def customer_ids(first: int, n: int, width: int) -> pa.Array:
    """Zero-padded ids, so that string order is customer order."""
    digits = np.strings.zfill(np.arange(first, first + n).astype(np.str_), width)
    return pa.array(np.strings.add("c", digits))


def categorical(codes: np.ndarray, levels) -> pa.DictionaryArray:
    """A dictionary column with every level (pandas reads it as ``category``)."""
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int8()), pa.array(list(levels)))


def timestamps(origin: np.datetime64, microseconds: np.ndarray) -> pa.Array:
    """Absolute ``timestamp[us]`` values; negative offsets mark missing values."""
    values = origin + microseconds.astype("timedelta64[us]")
    return pa.array(np.where(microseconds < 0, np.datetime64("NaT"), values), pa.timestamp("us"))


def per_customer_any(owner: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Whether each customer owns at least one row in ``mask``."""
    return np.bincount(owner[mask], minlength=n) > 0


@dataclass(frozen=True)
class Life:
    """Everything simulated for a block, before it becomes tables."""

    population: Population
    paths: Paths
    sessions: Sessions
    events: Events
    signup: np.ndarray
    churn: np.ndarray
    change: RateChange | None = None


@dataclass(frozen=True)
class Truth:
    """Per-customer latent outcomes; times in microseconds since the origin, -1 when none."""

    state: np.ndarray
    churn_us: np.ndarray
    converted_us: np.ndarray
    oracle_churn: np.ndarray
    oracle_churn_observable: np.ndarray
    oracle_conversion: np.ndarray


def simulate_life(rng: np.random.Generator, n: int, period: Period) -> Life:
    """Customers, their latent paths, sessions and events (calendar days since the origin)."""
    clock = period.clock
    population = draw_population(rng, n, clock, period.start, period.end)
    paths = simulate_paths(rng, population)
    sessions = draw_sessions(rng, population, paths, clock)
    signup = clock.to_local(population.signup) - population.offset
    churn = np.full(n, np.inf)
    churned = np.isfinite(paths.churn)
    churn[churned] = clock.to_local(paths.churn[churned]) - population.offset[churned]
    events = draw_events(rng, population, sessions, signup, churn, period.end)
    return Life(population, paths, sessions, events, signup, churn)


def observed_arrivals(life: Life, period: Period) -> tuple[np.ndarray, np.ndarray]:
    """Owners and activity times of the sessions after signup and before the oracle cutoff."""
    sessions = life.sessions
    after_signup = np.append(False, sessions.owner[1:] == sessions.owner[:-1])
    seen = after_signup & (sessions.time < period.cutoff)
    owner = sessions.owner[seen]
    at = period.clock.to_activity(sessions.time[seen] + life.population.offset[owner])
    return owner, at


def derive_truth(life: Life, period: Period) -> Truth:
    """Churn and conversion times, the latent state and the oracles at the oracle cutoff."""
    population, events, clock = life.population, life.events, period.clock
    n = len(population)
    upgrade = events.code == params.EVENT_CODE["upgrade"]
    converted_us = np.full(n, -1, dtype=np.int64)
    converted_us[events.owner[upgrade]] = events.timestamp[upgrade]
    churned = np.isfinite(life.churn)
    churn_us = np.where(churned, to_microseconds(np.where(churned, life.churn, 0.0)), -1)
    at = clock.to_activity(period.cutoff + population.offset)
    window = clock.to_activity(period.cutoff + period.horizon + population.offset) - at
    state = states_at(life.paths, population.signup, at)
    converted_before = (converted_us >= 0) & (converted_us < period.cutoff * MICROSECONDS_PER_DAY)
    return Truth(
        state=state,
        churn_us=churn_us,
        converted_us=converted_us,
        oracle_churn=churn_probability(population, state, window),
        oracle_churn_observable=observable_churn_probability(
            population, *observed_arrivals(life, period), at, window, life.change
        ),
        oracle_conversion=conversion_probability(population, state, window, converted_before),
    )


def count_labels(life: Life, truth: Truth, period: Period) -> dict:
    """Realised labels and oracle sums at the oracle cutoff, over customers active before it."""
    n = len(life.population)
    owner, ts = life.events.owner, life.events.timestamp
    cutoff = period.cutoff * MICROSECONDS_PER_DAY
    horizon_end = cutoff + period.horizon * MICROSECONDS_PER_DAY
    lookback = cutoff - ACTIVE_LOOKBACK_DAYS * MICROSECONDS_PER_DAY
    active = per_customer_any(owner, (ts >= lookback) & (ts < cutoff), n)
    silent = ~per_customer_any(owner, (ts >= cutoff) & (ts < horizon_end), n)
    converted = truth.converted_us
    can_convert = (
        active & (life.population.convert_prob > 0) & ~((converted >= 0) & (converted < cutoff))
    )
    converts = (converted >= cutoff) & (converted < horizon_end)
    return {
        "events": int(ts.size),
        "customers": n,
        "churned": int((truth.churn_us >= 0).sum()),
        "converted": int((converted >= 0).sum()),
        "churn_eligible": int(active.sum()),
        "churn_labels": int(silent[active].sum()),
        "churn_oracle": float(truth.oracle_churn[active].sum()),
        "conversion_eligible": int(can_convert.sum()),
        "conversion_labels": int(converts[can_convert].sum()),
        "conversion_oracle": float(truth.oracle_conversion[can_convert].sum()),
    }


def events_table(life: Life, ids: pa.Array, origin: np.datetime64) -> pa.Table:
    """Canonical event columns; session ids are ``<customer_id>-<n-th session>``."""
    sessions, events = life.sessions, life.events
    rank = np.arange(sessions.owner.size) - np.searchsorted(sessions.owner, sessions.owner)
    session_ids = pc.binary_join_element_wise(
        ids.take(sessions.owner), pc.cast(pa.array(rank), pa.string()), "-"
    )
    return pa.table(
        {
            contract.CUSTOMER_ID: ids.take(events.owner),
            contract.TIMESTAMP: timestamps(origin, events.timestamp),
            contract.EVENT: pa.array(list(params.EVENTS)).take(events.code),
            contract.AMOUNT: pa.array(events.amount, pa.float64(), from_pandas=True),
            contract.SESSION_ID: session_ids.take(events.session),
        }
    )


def customers_table(life: Life, ids: pa.Array, origin: np.datetime64) -> pa.Table:
    """Customer ids, signup times and categorical attributes."""
    population = life.population
    return pa.table(
        {
            contract.CUSTOMER_ID: ids,
            contract.SIGNUP_AT: timestamps(origin, to_microseconds(life.signup)),
            "acquisition_channel": categorical(population.channel, params.CHANNELS),
            "plan": categorical(population.plan, params.PLANS),
            "platform": categorical(population.platform, params.PLATFORMS),
            "country": categorical(population.country, params.COUNTRIES),
        }
    )


def truth_table(life: Life, truth: Truth, ids: pa.Array, period: Period) -> pa.Table:
    """Latent segment, state at the oracle cutoff, churn and conversion times, oracles."""
    n = len(ids)
    cutoff = period.origin + np.timedelta64(period.cutoff * MICROSECONDS_PER_DAY, "us")
    states = [STATE_NAMES[code] for code in sorted(STATE_NAMES)]
    return pa.table(
        {
            contract.CUSTOMER_ID: ids,
            "segment": categorical(life.population.segment, params.SEGMENTS),
            "state_at_cutoff": categorical(truth.state - min(STATE_NAMES), states),
            "churn_at": timestamps(period.origin, truth.churn_us),
            "converted_at": timestamps(period.origin, truth.converted_us),
            "oracle_cutoff": pa.array(np.full(n, cutoff), pa.timestamp("us")),
            "oracle_churn": pa.array(truth.oracle_churn, pa.float64(), from_pandas=True),
            "oracle_churn_observable": pa.array(
                truth.oracle_churn_observable, pa.float64(), from_pandas=True
            ),
            "oracle_conversion": pa.array(truth.oracle_conversion, pa.float64(), from_pandas=True),
        }
    )


def intervene(
    seed: int, block: int, life: Life, period: Period, intervention: trial.Intervention
) -> tuple[Life, trial.Assignment]:
    """Assign the block's eligible customers and relive the treated from the date on.

    Assignment and the treated customers' new lives draw from streams of their own, so the
    block's stream, and with it every control customer's events, is untouched.
    """
    population, clock = life.population, period.clock
    upgrade = life.events.code == params.EVENT_CODE["upgrade"]
    converted_us = np.full(len(population), -1, dtype=np.int64)
    converted_us[life.events.owner[upgrade]] = life.events.timestamp[upgrade]
    assignment = trial.assign(
        trial.stream(seed, block, trial.ASSIGNMENT_STREAM),
        population,
        life.paths,
        life.events,
        converted_us,
        clock,
        intervention,
    )
    who, paths, sessions, events, churn = trial.relive(
        trial.stream(seed, block, trial.TREATMENT_STREAM),
        population,
        assignment,
        converted_us,
        clock,
        intervention,
        period.end,
    )
    at = clock.to_activity(intervention.day + population.offset)
    merged_sessions, merged_events = trial.splice_activity(
        life.sessions, life.events, sessions, events, who, intervention.day, len(population)
    )
    lives_on = life.churn.copy()
    lives_on[who] = churn
    change = None
    if period.cutoff >= intervention.day:
        change = RateChange(population, np.where(assignment.treated, at, np.inf))
        population = trial.blend(
            population, trial.treat(population, intervention), assignment.treated
        )
    relived = Life(
        population=population,
        paths=trial.splice_paths(life.paths, paths, who, at),
        sessions=merged_sessions,
        events=merged_events,
        signup=life.signup,
        churn=lives_on,
        change=change,
    )
    return relived, assignment


def generate_block(
    seed: int,
    block: int,
    n_customers: int,
    width: int,
    period: Period,
    intervention: trial.Intervention | None = None,
) -> Block:
    """Simulate customers [block * BLOCK_CUSTOMERS, ...) and build their tables."""
    first = block * BLOCK_CUSTOMERS
    n = min(BLOCK_CUSTOMERS, n_customers - first)
    life = simulate_life(block_generator(seed, block), n, period)
    ids = customer_ids(first, n, width)
    extra, effects = {}, {}
    if intervention is not None:
        life, assignment = intervene(seed, block, life, period, intervention)
        extra = {
            "assignments": trial.assignments_table(ids, assignment, period.origin, intervention),
            "intervention_truth": trial.truth_table(ids, assignment, period.origin, intervention),
        }
        effects = trial.tally_effects(assignment, intervention)
    truth = derive_truth(life, period)
    return Block(
        events=events_table(life, ids, period.origin),
        customers=customers_table(life, ids, period.origin),
        truth=truth_table(life, truth, ids, period),
        tally={**count_labels(life, truth, period), **effects},
        **extra,
    )
