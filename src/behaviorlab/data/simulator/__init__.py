"""The behaviour simulator: customers, their event streams and the truth behind them.

Generative model (all randomness from ``seed``; customers are simulated in fixed blocks of
``BLOCK_CUSTOMERS``, each with its own stream from ``SeedSequence(seed, spawn_key=(block,))``,
so the output does not depend on how the writing is chunked):

1. Each customer draws a latent segment (power user, casual browser, bargain hunter,
   dormant-but-valuable), attributes given the segment (acquisition channel, plan,
   platform, country) and a signup time in [start, end).
2. Latent rates follow from segment and attributes with lognormal noise: a session rate,
   a disengagement rate, churn and recovery rates, a per-session conversion probability
   (free and trial plans only) and a spend level.
3. A continuous-time Markov chain runs from signup: active -> disengaging, and from
   disengaging either back to active or to churned (absorbing). Quick churners start
   disengaging. The chain runs in *activity time* (see ``clock``): calendar time warped by a
   local hour-of-day and weekday profile, so sessions cluster in busy hours.
4. Sessions are a Poisson process in activity time at the session rate (times 0.3 while
   disengaging: engagement decays before churn), plus one session at signup; nothing after
   churn or the end. Each session of a customer who can convert upgrades with the conversion
   probability (halved while disengaging); the first upgrade is the conversion.
5. A session holds login, page and product views, searches, the cart -> checkout ->
   purchase funnel (amount on purchase), errors and support contacts, seconds to minutes
   apart. Disengaging sessions browse and buy less and contact support more. A session never
   crosses a UTC midnight, so label windows that start at midnight see whole sessions.
6. Oracle at the oracle cutoff (a midnight; default end - 60 days) over ``horizon_days``:
   ``oracle_churn`` = P(no event in [cutoff, cutoff + horizon)) and ``oracle_conversion`` =
   P(an upgrade in that window), given the customer's rates and latent state at the cutoff,
   in closed form (``oracle``). NaN before signup; conversion NaN once converted.
   ``oracle_churn_observable`` is the same churn probability given only what a model could
   see, the session times before the cutoff, and the customer's rates: the latent state is
   filtered from the arrivals (``observable``), the best any model could do from events.
7. Optionally (``intervention``) a randomised experiment with a known effect: at a date,
   customers seen recently go to treatment or control; treated customers live with one
   rate changed from then on. ``assignments.parquet`` holds the groups and
   ``intervention_truth.parquet`` the oracle outcomes under both groups (``intervention``).

The period is [start, end): no event at or after ``end``.
"""

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from behaviorlab.data.simulator.blocks import (
    BLOCK_CUSTOMERS,
    TALLY_KEYS,
    Block,
    Period,
    generate_block,
    resolve_period,
)
from behaviorlab.data.simulator.intervention import (
    Intervention,
    resolve_intervention,
    summarise_effects,
)
from behaviorlab.data.simulator.sessions import MICROSECONDS_PER_DAY
from behaviorlab.errors import ConfigError

__all__ = [
    "BLOCK_CUSTOMERS",
    "INTERVENTION_FILES",
    "SimulatedData",
    "simulate",
    "write_simulation",
]

DEFAULT_HORIZON_DAYS = 30
DEFAULT_CHUNK_CUSTOMERS = 50_000
FILES = ("events", "customers", "truth")
INTERVENTION_FILES = ("assignments", "intervention_truth")


@dataclass(frozen=True)
class SimulatedData:
    """Simulated events, customers and the latent truth, as canonical pandas frames."""

    events: pd.DataFrame
    customers: pd.DataFrame
    truth: pd.DataFrame
    summary: dict
    assignments: pd.DataFrame | None = None
    intervention_truth: pd.DataFrame | None = None


def id_width(n_customers: int) -> int:
    """Digits in a customer id: at least 7, so ids look alike across sizes."""
    return max(7, len(str(n_customers - 1)))


def check_size(n_customers: int, chunk_customers: int = DEFAULT_CHUNK_CUSTOMERS) -> None:
    """Reject sizes that cannot be simulated, naming the key."""
    if int(n_customers) < 1:
        raise ConfigError(f"simulate: n_customers must be at least 1, got {n_customers}")
    if int(chunk_customers) < 1:
        raise ConfigError(f"simulate: chunk_customers must be at least 1, got {chunk_customers}")


def iter_blocks(
    n_customers: int,
    seed: int,
    period: Period,
    blocks: range,
    intervention: Intervention | None = None,
):
    """Generate the given blocks in order."""
    width = id_width(n_customers)
    for block in blocks:
        yield generate_block(seed, block, n_customers, width, period, intervention)


def output_files(intervention: Intervention | None) -> tuple[str, ...]:
    """The tables written: the experiment's two only when there is one."""
    return FILES if intervention is None else (*FILES, *INTERVENTION_FILES)


def summarise_all(
    tallies: list[dict], period: Period, start: str, end: str, intervention: Intervention | None
) -> dict:
    """The summary, with the experiment's sizes and true effects when there is one."""
    summary = summarise(tallies, period, start, end)
    if intervention is None:
        return summary
    return {**summary, **summarise_effects(tallies, intervention)}


def summarise(tallies: list[dict], period: Period, start: str, end: str) -> dict:
    """Sizes and label rates: realised at the oracle cutoff versus the oracle's mean."""
    total = {key: sum(tally[key] for tally in tallies) for key in TALLY_KEYS}
    cutoff = period.origin + np.timedelta64(period.cutoff * MICROSECONDS_PER_DAY, "us")

    def ratio(numerator: str, denominator: str) -> float:
        count = total[denominator]
        return round(total[numerator] / count, 4) if count else float("nan")

    return {
        "events": total["events"],
        "customers": total["customers"],
        "start": str(start),
        "end": str(end),
        "oracle_cutoff": str(pd.Timestamp(cutoff).date()),
        "horizon_days": period.horizon,
        "churned_by_end": ratio("churned", "customers"),
        "converted_by_end": ratio("converted", "customers"),
        "churn_eligible": total["churn_eligible"],
        "churn_label_rate": ratio("churn_labels", "churn_eligible"),
        "oracle_churn_mean": ratio("churn_oracle", "churn_eligible"),
        "conversion_eligible": total["conversion_eligible"],
        "conversion_label_rate": ratio("conversion_labels", "conversion_eligible"),
        "oracle_conversion_mean": ratio("conversion_oracle", "conversion_eligible"),
    }


def simulate(
    n_customers: int,
    seed: int,
    start: str,
    end: str,
    oracle_cutoff: str | None = None,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    intervention: Mapping | None = None,
) -> SimulatedData:
    """Simulate in memory; the same arguments always give the same frames."""
    check_size(n_customers)
    period = resolve_period(start, end, oracle_cutoff, horizon_days)
    trial = resolve_intervention(intervention, period.origin, period.start, period.end)
    n_blocks = math.ceil(n_customers / BLOCK_CUSTOMERS)
    blocks: list[Block] = list(iter_blocks(n_customers, seed, period, range(n_blocks), trial))
    frames = {
        name: pa.concat_tables([getattr(block, name) for block in blocks]).to_pandas()
        for name in output_files(trial)
    }
    summary = summarise_all([block.tally for block in blocks], period, start, end, trial)
    return SimulatedData(**frames, summary=summary)


def write_simulation(
    out_dir: str | os.PathLike,
    n_customers: int,
    seed: int,
    start: str,
    end: str,
    oracle_cutoff: str | None = None,
    chunk_customers: int = DEFAULT_CHUNK_CUSTOMERS,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    intervention: Mapping | None = None,
) -> dict:
    """Write events/customers/truth.parquet into ``out_dir``, ``chunk_customers`` at a time,
    and with an ``intervention`` also assignments/intervention_truth.parquet.

    Memory is bounded by one chunk (rounded up to whole blocks of BLOCK_CUSTOMERS). The data
    are the same as ``simulate`` gives for the same arguments, whatever ``chunk_customers``;
    the files are byte-identical for the same arguments and chunk size. Each file is written
    under a temporary name and renamed into place only when all of them are complete.
    """
    check_size(n_customers, chunk_customers)
    period = resolve_period(start, end, oracle_cutoff, horizon_days)
    trial = resolve_intervention(intervention, period.origin, period.start, period.end)
    files = output_files(trial)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n_blocks = math.ceil(n_customers / BLOCK_CUSTOMERS)
    per_chunk = math.ceil(chunk_customers / BLOCK_CUSTOMERS)
    temporary = {name: out / f".{name}.parquet.tmp-{os.getpid()}" for name in files}
    writers: dict[str, pq.ParquetWriter] = {}
    tallies = []
    try:
        for first in range(0, n_blocks, per_chunk):
            chunk = range(first, min(first + per_chunk, n_blocks))
            blocks = list(iter_blocks(n_customers, seed, period, chunk, trial))
            for name in files:
                table = pa.concat_tables([getattr(block, name) for block in blocks])
                if name not in writers:
                    writers[name] = pq.ParquetWriter(temporary[name], table.schema)
                writers[name].write_table(table)
            tallies.extend(block.tally for block in blocks)
        for writer in writers.values():
            writer.close()
        for name in files:
            os.replace(temporary[name], out / f"{name}.parquet")
    finally:
        for name in files:
            if name in writers:
                writers[name].close()
            temporary[name].unlink(missing_ok=True)
    return {**summarise_all(tallies, period, start, end, trial), "out_dir": str(out)}
