"""One block of customers, from random numbers to Arrow tables, independent of other blocks."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from behaviorlab.data import contract
from behaviorlab.data.simulator import params
from behaviorlab.data.simulator.clock import Clock, build_clock
from behaviorlab.data.simulator.oracle import churn_probability, conversion_probability
from behaviorlab.data.simulator.population import draw_population
from behaviorlab.data.simulator.sessions import (
    MICROSECONDS_PER_DAY,
    draw_events,
    draw_sessions,
    to_microseconds,
)
from behaviorlab.data.simulator.states import STATE_NAMES, simulate_paths, states_at
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


def generate_block(seed: int, block: int, n_customers: int, width: int, period: Period) -> Block:
    """Simulate customers [block * BLOCK_CUSTOMERS, ...) and build their tables."""
    rng = block_generator(seed, block)
    first = block * BLOCK_CUSTOMERS
    n = min(BLOCK_CUSTOMERS, n_customers - first)
    clock = period.clock
    population = draw_population(rng, n, clock, period.start, period.end)
    paths = simulate_paths(rng, population)
    sessions = draw_sessions(rng, population, paths, clock)
    signup = clock.to_local(population.signup) - population.offset
    churn = np.full(n, np.inf)
    churned = np.isfinite(paths.churn)
    churn[churned] = clock.to_local(paths.churn[churned]) - population.offset[churned]
    events = draw_events(rng, population, sessions, signup, churn, period.end)

    upgrade = events.code == params.EVENT_CODE["upgrade"]
    converted_us = np.full(n, -1, dtype=np.int64)
    converted_us[events.owner[upgrade]] = events.timestamp[upgrade]
    churn_us = np.where(churned, to_microseconds(np.where(churned, churn, 0.0)), -1)

    cutoff_us = period.cutoff * MICROSECONDS_PER_DAY
    window_us = period.horizon * MICROSECONDS_PER_DAY
    lookback_us = ACTIVE_LOOKBACK_DAYS * MICROSECONDS_PER_DAY
    offset = population.offset
    at = clock.to_activity(period.cutoff + offset)
    window = clock.to_activity(period.cutoff + period.horizon + offset) - at
    state = states_at(paths, population.signup, at)
    converted_before = (converted_us >= 0) & (converted_us < cutoff_us)
    oracle_churn = churn_probability(population, state, window)
    oracle_conversion = conversion_probability(population, state, window, converted_before)

    ts = events.timestamp
    recent = per_customer_any(events.owner, (ts >= cutoff_us - lookback_us) & (ts < cutoff_us), n)
    silent = ~per_customer_any(events.owner, (ts >= cutoff_us) & (ts < cutoff_us + window_us), n)
    churn_eligible = recent
    conversion_eligible = recent & ~converted_before & (population.convert_prob > 0)
    converts = (converted_us >= cutoff_us) & (converted_us < cutoff_us + window_us)
    tally = {
        "events": ts.size,
        "customers": n,
        "churned": int(churned.sum()),
        "converted": int((converted_us >= 0).sum()),
        "churn_eligible": int(churn_eligible.sum()),
        "churn_labels": int(silent[churn_eligible].sum()),
        "churn_oracle": float(oracle_churn[churn_eligible].sum()),
        "conversion_eligible": int(conversion_eligible.sum()),
        "conversion_labels": int(converts[conversion_eligible].sum()),
        "conversion_oracle": float(oracle_conversion[conversion_eligible].sum()),
    }

    ids = customer_ids(first, n, width)
    session_rank = np.arange(sessions.owner.size) - np.searchsorted(sessions.owner, sessions.owner)
    session_ids = pc.binary_join_element_wise(
        ids.take(sessions.owner), pc.cast(pa.array(session_rank), pa.string()), "-"
    )
    events_table = pa.table(
        {
            contract.CUSTOMER_ID: ids.take(events.owner),
            contract.TIMESTAMP: timestamps(period.origin, ts),
            contract.EVENT: pa.array(list(params.EVENTS)).take(events.code),
            contract.AMOUNT: pa.array(events.amount, pa.float64(), from_pandas=True),
            contract.SESSION_ID: session_ids.take(events.session),
        }
    )
    customers_table = pa.table(
        {
            contract.CUSTOMER_ID: ids,
            contract.SIGNUP_AT: timestamps(period.origin, to_microseconds(signup)),
            "acquisition_channel": categorical(population.channel, params.CHANNELS),
            "plan": categorical(population.plan, params.PLANS),
            "platform": categorical(population.platform, params.PLATFORMS),
            "country": categorical(population.country, params.COUNTRIES),
        }
    )
    cutoff_stamp = period.origin + np.timedelta64(cutoff_us, "us")
    truth_table = pa.table(
        {
            contract.CUSTOMER_ID: ids,
            "segment": categorical(population.segment, params.SEGMENTS),
            "state_at_cutoff": categorical(state + 1, [STATE_NAMES[s] for s in range(-1, 3)]),
            "churn_at": timestamps(period.origin, churn_us),
            "converted_at": timestamps(period.origin, converted_us),
            "oracle_cutoff": pa.array(np.full(n, cutoff_stamp), pa.timestamp("us")),
            "oracle_churn": pa.array(oracle_churn, pa.float64(), from_pandas=True),
            "oracle_conversion": pa.array(oracle_conversion, pa.float64(), from_pandas=True),
        }
    )
    return Block(events=events_table, customers=customers_table, truth=truth_table, tally=tally)
