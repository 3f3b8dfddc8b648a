"""A randomised intervention with a known true effect, spliced into a simulated block.

At a UTC midnight ``date``, customers with an event in the ``lookback_days`` before it
(optionally only some attribute values or latent segments) are assigned to treatment with
probability ``share``, else to control, from a stream of their own, so the block's own
stream and every control customer's events stay exactly as without the intervention.
From the date on, treated customers live with one rate multiplied by ``factor``: the
disengaging -> churned rate (``target: churn``), the active -> disengaging rate
(``disengage``) or the per-session upgrade probability (``conversion``). Their chain,
sessions and events after the date are drawn again, from their latent state at the date
(the chain is memoryless), from another stream of their own; their events before it stay.

The truth per assigned customer is the oracle probability of retention (any event) and
of conversion over [date, date + days) under treatment and under control, given the
latent state at the date, in closed form (``oracle``). The true average effect is the
mean difference; ``factor: 1`` is an A/A test with no effect.
"""

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

import numpy as np
import pandas as pd
import pyarrow as pa

from behaviorlab.data.simulator import params
from behaviorlab.data.simulator.clock import Clock
from behaviorlab.data.simulator.oracle import churn_probability, conversion_probability
from behaviorlab.data.simulator.population import Population
from behaviorlab.data.simulator.sessions import (
    MICROSECONDS_PER_DAY,
    Events,
    Sessions,
    draw_events,
    order_sessions,
)
from behaviorlab.data.simulator.states import (
    CHURNED,
    DISENGAGED,
    NOT_SIGNED_UP,
    STATE_NAMES,
    Paths,
    simulate_paths,
    states_at,
)
from behaviorlab.errors import ConfigError

TARGETS = ("churn", "disengage", "conversion")
ATTRIBUTES = {
    "segment": ("segment", params.SEGMENTS),
    "acquisition_channel": ("channel", params.CHANNELS),
    "plan": ("plan", params.PLANS),
    "platform": ("platform", params.PLATFORMS),
    "country": ("country", params.COUNTRIES),
}
ASSIGNMENT_STREAM = 1
TREATMENT_STREAM = 2
TALLY_KEYS = ("assigned", "treated", "effect_sum", "effect_treated_sum")
TREATMENT, CONTROL = "treatment", "control"
KEYS = ("date", "share", "target", "factor", "days", "lookback_days", "only")


@dataclass(frozen=True)
class Intervention:
    """A resolved intervention; ``day`` is the date in calendar days since the origin."""

    day: int
    share: float
    target: str
    factor: float
    days: int
    lookback_days: int
    only: dict[str, tuple[str, ...]]
    outcome: str


def resolve_intervention(
    spec: Mapping | None, origin: np.datetime64, start: float, end: float
) -> Intervention | None:
    """Check an ``intervention:`` block against the period; None when it is unset."""
    if not spec:
        return None
    unknown = sorted(set(spec) - set(KEYS))
    if unknown:
        raise ConfigError(
            f"simulate.intervention: unknown key '{unknown[0]}'; known: {', '.join(KEYS)}"
        )
    if not spec.get("date"):
        raise ConfigError("simulate.intervention.date is missing (the assignment date)")
    date = pd.Timestamp(spec["date"])
    if date != date.normalize():
        raise ConfigError(f"simulate.intervention.date {date} must be a midnight")
    day = int((date - pd.Timestamp(origin)) // pd.Timedelta(days=1))
    days = int(spec.get("days", 30))
    if not start < day <= end - days:
        raise ConfigError(
            f"simulate.intervention.date {date.date()} needs {days} days of data after it "
            f"inside the simulated period"
        )
    share = float(spec.get("share", 0.5))
    if not 0 < share < 1:
        raise ConfigError(f"simulate.intervention.share must lie in (0, 1), got {share}")
    target = str(spec.get("target", "churn"))
    if target not in TARGETS:
        raise ConfigError(
            f"simulate.intervention.target must be one of {', '.join(TARGETS)}, got '{target}'"
        )
    factor = float(spec.get("factor", 1.0))
    if factor < 0:
        raise ConfigError(f"simulate.intervention.factor must not be negative, got {factor}")
    return Intervention(
        day=day,
        share=share,
        target=target,
        factor=factor,
        days=days,
        lookback_days=int(spec.get("lookback_days", 30)),
        only=resolve_only(spec.get("only")),
        outcome="conversion" if target == "conversion" else "retention",
    )


def resolve_only(only: Mapping | None) -> dict[str, tuple[str, ...]]:
    """Attribute -> the values eligible for assignment, each checked against the simulator."""
    resolved = {}
    for name, values in (only or {}).items():
        if name not in ATTRIBUTES:
            raise ConfigError(
                f"simulate.intervention.only: unknown attribute '{name}'; "
                f"known: {', '.join(ATTRIBUTES)}"
            )
        values = (values,) if isinstance(values, str) else tuple(values)
        levels = ATTRIBUTES[name][1]
        unknown = [value for value in values if value not in levels]
        if unknown:
            raise ConfigError(
                f"simulate.intervention.only.{name}: unknown value '{unknown[0]}'; "
                f"known: {', '.join(levels)}"
            )
        resolved[name] = values
    return resolved


def stream(seed: int, block: int, purpose: int) -> np.random.Generator:
    """A block's random stream for one purpose, independent of its simulation stream."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block, purpose)))


def find_eligible(population: Population, events: Events, intervention: Intervention) -> np.ndarray:
    """Customers seen in the lookback before the date (and in the chosen attributes)."""
    day = intervention.day * MICROSECONDS_PER_DAY
    first = day - intervention.lookback_days * MICROSECONDS_PER_DAY
    seen = (events.timestamp >= first) & (events.timestamp < day)
    eligible = np.bincount(events.owner[seen], minlength=len(population)) > 0
    for name, values in intervention.only.items():
        field, levels = ATTRIBUTES[name]
        codes = [levels.index(value) for value in values]
        eligible &= np.isin(getattr(population, field), codes)
    return eligible


def treat(population: Population, intervention: Intervention) -> Population:
    """Every customer's rates under treatment."""
    if intervention.target == "churn":
        return replace(population, churn_rate=population.churn_rate * intervention.factor)
    if intervention.target == "disengage":
        return replace(population, disengage_rate=population.disengage_rate * intervention.factor)
    return replace(
        population, convert_prob=np.minimum(population.convert_prob * intervention.factor, 1.0)
    )


def select(population: Population, who: np.ndarray, **changes: np.ndarray) -> Population:
    """The customers ``who`` (indices) of a population, with some fields replaced."""
    chosen = {item.name: getattr(population, item.name)[who] for item in fields(population)}
    return Population(**{**chosen, **changes})


def blend(control: Population, treated: Population, mask: np.ndarray) -> Population:
    """Treated rates where ``mask``, control rates elsewhere."""
    return Population(
        **{
            item.name: np.where(mask, getattr(treated, item.name), getattr(control, item.name))
            for item in fields(control)
        }
    )


def draw_later_sessions(
    rng: np.random.Generator, population: Population, paths: Paths, clock: Clock
) -> Sessions:
    """Poisson sessions along the paths (no signup session), first upgrade kept."""
    activity = np.where(paths.state == DISENGAGED, params.DISENGAGED_ACTIVITY, 1.0)
    length = paths.finish - paths.begin
    counts = rng.poisson(population.session_rate[paths.owner] * activity * length)
    owner = np.repeat(paths.owner, counts)
    state = np.repeat(paths.state, counts)
    start = np.repeat(paths.begin, counts) + rng.random(counts.sum()) * np.repeat(length, counts)
    order = np.lexsort((start, owner))
    return order_sessions(rng, population, clock, owner[order], state[order], start[order])


@dataclass(frozen=True)
class Assignment:
    """Who was assigned, to which group, their latent state and truth at the date."""

    eligible: np.ndarray
    treated: np.ndarray
    state: np.ndarray
    truth: dict[str, np.ndarray]


def assign(
    rng: np.random.Generator,
    population: Population,
    paths: Paths,
    events: Events,
    converted_us: np.ndarray,
    clock: Clock,
    intervention: Intervention,
) -> Assignment:
    """Draw the groups and the oracle outcomes under treatment and control at the date."""
    eligible = find_eligible(population, events, intervention)
    treated = eligible & (rng.random(len(population)) < intervention.share)
    at = clock.to_activity(intervention.day + population.offset)
    window = clock.to_activity(intervention.day + intervention.days + population.offset) - at
    state = states_at(paths, population.signup, at)
    converted = (converted_us >= 0) & (converted_us < intervention.day * MICROSECONDS_PER_DAY)
    state_known = np.where(eligible, state, NOT_SIGNED_UP).astype(np.int8)
    truth = {}
    for group, rates in ((CONTROL, population), (TREATMENT, treat(population, intervention))):
        truth[f"retention_{group}"] = 1.0 - churn_probability(rates, state_known, window)
        truth[f"conversion_{group}"] = conversion_probability(rates, state_known, window, converted)
    return Assignment(eligible=eligible, treated=treated, state=state, truth=truth)


def relive(
    rng: np.random.Generator,
    population: Population,
    assignment: Assignment,
    converted_us: np.ndarray,
    clock: Clock,
    intervention: Intervention,
    end: float,
):
    """Paths, sessions, events and churn times from the date on for treated customers alive
    at it; owners index the block's customers."""
    alive = assignment.treated & (assignment.state >= 0) & (assignment.state < CHURNED)
    who = np.flatnonzero(alive)
    converted = (converted_us >= 0) & (converted_us < intervention.day * MICROSECONDS_PER_DAY)
    rates = treat(population, intervention)
    later = select(
        rates,
        who,
        signup=clock.to_activity(intervention.day + population.offset[who]),
        start_state=assignment.state[who].astype(np.int8),
        convert_prob=np.where(converted[who], 0.0, rates.convert_prob[who]),
    )
    paths = simulate_paths(rng, later)
    sessions = draw_later_sessions(rng, later, paths, clock)
    churn = np.full(who.size, np.inf)
    ends = np.isfinite(paths.churn)
    churn[ends] = clock.to_local(paths.churn[ends]) - later.offset[ends]
    events = draw_events(
        rng, later, sessions, np.full(who.size, float(intervention.day)), churn, end
    )
    return who, paths, sessions, events, churn


def splice_paths(paths: Paths, later: Paths, who: np.ndarray, at: np.ndarray) -> Paths:
    """The old pieces up to the date for ``who`` (all of them for others), then the new."""
    reset = np.zeros(paths.churn.size, dtype=bool)
    reset[who] = True
    keep = ~reset[paths.owner] | (paths.begin < at[paths.owner])
    finish = np.where(reset[paths.owner], np.minimum(paths.finish, at[paths.owner]), paths.finish)
    churn = paths.churn.copy()
    churn[who] = later.churn
    return Paths(
        owner=np.concatenate([paths.owner[keep], who[later.owner]]),
        state=np.concatenate([paths.state[keep], later.state]),
        begin=np.concatenate([paths.begin[keep], later.begin]),
        finish=np.concatenate([finish[keep], later.finish]),
        churn=churn,
    )


def splice_activity(
    sessions: Sessions,
    events: Events,
    later_sessions: Sessions,
    later_events: Events,
    who: np.ndarray,
    day: int,
    n: int,
) -> tuple[Sessions, Events]:
    """Sessions and events with those of ``who`` from ``day`` on replaced, sorted again by
    customer and time (sessions never cross a UTC midnight, so none is cut)."""
    reset = np.zeros(n, dtype=bool)
    reset[who] = True
    kept = ~(reset[sessions.owner] & (sessions.time >= day))
    renumber = np.cumsum(kept) - 1
    owner = np.concatenate([sessions.owner[kept], who[later_sessions.owner]])
    time = np.concatenate([sessions.time[kept], later_sessions.time])
    order = np.lexsort((time, owner))
    position = np.empty_like(order)
    position[order] = np.arange(order.size)
    merged = Sessions(
        owner=owner[order],
        state=np.concatenate([sessions.state[kept], later_sessions.state])[order],
        time=time[order],
        upgrade=np.concatenate([sessions.upgrade[kept], later_sessions.upgrade])[order],
    )
    stay = kept[events.session]
    session = position[
        np.concatenate([renumber[events.session[stay]], later_events.session + kept.sum()])
    ]
    by_session = np.argsort(session, kind="stable")
    merged_events = Events(
        owner=np.concatenate([events.owner[stay], who[later_events.owner]])[by_session],
        session=session[by_session],
        code=np.concatenate([events.code[stay], later_events.code])[by_session],
        timestamp=np.concatenate([events.timestamp[stay], later_events.timestamp])[by_session],
        amount=np.concatenate([events.amount[stay], later_events.amount])[by_session],
    )
    return merged, merged_events


def assignments_table(
    ids: pa.Array, assignment: Assignment, origin: np.datetime64, intervention: Intervention
) -> pa.Table:
    """What an analyst sees: each assigned customer's group and assignment time."""
    rows = np.flatnonzero(assignment.eligible)
    at = origin + np.timedelta64(intervention.day * MICROSECONDS_PER_DAY, "us")
    return pa.table(
        {
            "customer_id": ids.take(pa.array(rows)),
            "group": pa.array(np.where(assignment.treated[rows], TREATMENT, CONTROL)),
            "assigned_at": pa.array(np.full(rows.size, at), pa.timestamp("us")),
        }
    )


def truth_table(
    ids: pa.Array, assignment: Assignment, origin: np.datetime64, intervention: Intervention
) -> pa.Table:
    """Assignments plus the latent state and the oracle outcomes under both groups."""
    rows = np.flatnonzero(assignment.eligible)
    states = [STATE_NAMES[code] for code in sorted(STATE_NAMES)]
    table = assignments_table(ids, assignment, origin, intervention)
    codes = pa.array(assignment.state[rows] - min(STATE_NAMES), pa.int8())
    table = table.append_column(
        "state_at_assignment", pa.DictionaryArray.from_arrays(codes, pa.array(states))
    )
    for name, values in assignment.truth.items():
        table = table.append_column(name, pa.array(values[rows], pa.float64(), from_pandas=True))
    return table


def tally_effects(assignment: Assignment, intervention: Intervention) -> dict:
    """Sums the summary's true effects are built from (outcome of the target)."""
    outcome = intervention.outcome
    effect = assignment.truth[f"{outcome}_{TREATMENT}"] - assignment.truth[f"{outcome}_{CONTROL}"]
    effect = np.nan_to_num(effect)
    return {
        "assigned": int(assignment.eligible.sum()),
        "treated": int(assignment.treated.sum()),
        "effect_sum": float(effect[assignment.eligible].sum()),
        "effect_treated_sum": float(effect[assignment.treated].sum()),
    }


def summarise_effects(tallies: list[dict], intervention: Intervention) -> dict:
    """Group sizes and the true average effects (all assigned, and on the treated)."""
    total = {key: sum(tally[key] for tally in tallies) for key in TALLY_KEYS}
    return {
        "intervention_outcome": intervention.outcome,
        "assigned": total["assigned"],
        "treated": total["treated"],
        "true_effect": round(total["effect_sum"] / max(total["assigned"], 1), 6),
        "true_effect_on_treated": round(total["effect_treated_sum"] / max(total["treated"], 1), 6),
    }
