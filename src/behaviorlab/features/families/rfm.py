"""RFM and BG/NBD summaries over purchase occasions (distinct purchase days).

Purchase days: several purchases on one calendar day are one occasion. ``frequency`` is
the number of repeat purchase days, ``bgnbd_recency_days`` the days from the first to the
last purchase day, ``t_days`` the days from the midnight starting the first purchase day to
the cutoff and ``recency_days`` from the midnight starting the last purchase day to it.
The monetary columns are per purchase event (same-day purchases counted separately, the
first purchase included); tenure is the days since the first event of any kind.

With ``bgnbd: true`` the family adds the BG/NBD, Pareto/NBD and Gamma-Gamma inputs as the
lifetimes package defines them (``calibration_and_holdout_data`` with ``freq='D'`` and
the calibration period ending the day before the cutoff): ``bgnbd_t_days`` (T: days from
the first purchase day to the last day before the cutoff; ``t_days`` - 1 for a midnight
cutoff) and, with amounts, ``monetary_repeat_mean`` (the mean of the repeat purchase days'
summed amounts, 0 without a repeat day).
"""

import ibis
import ibis.expr.datatypes as dt

from behaviorlab.data.contract import AMOUNT
from behaviorlab.features.engine import AGE_US, MICROS_PER_DAY, SID, day_age
from behaviorlab.features.families.common import (
    KEYS,
    Sources,
    described,
    in_days,
    is_event,
    null_unless,
)

MONETARY = ("monetary_total", "monetary_mean", "monetary_max")
DAY = "day_us"
SPEND = "spend"
EXACT = dt.Decimal(38, 9)


def columns(p: dict) -> list[str]:
    """Recency, frequency, T, tenure, purchase days, (with amounts) monetary values and,
    with ``bgnbd``, lifetimes' T and repeat spend."""
    names = ["recency_days", "frequency", "bgnbd_recency_days", "t_days", "tenure_days"]
    names += ["purchase_days", *(MONETARY if p.get("monetary") else ())]
    return [*names, *(bgnbd_columns(p) if p.get("bgnbd") else ())]


def bgnbd_columns(p: dict) -> list[str]:
    """lifetimes' T and (with amounts) its Gamma-Gamma spend input."""
    return ["bgnbd_t_days", *(["monetary_repeat_mean"] if p.get("monetary") else [])]


def zero_filled(p: dict) -> list[str]:
    """No purchases: zero purchase days and zero spend; the rest is undefined."""
    return ["purchase_days", *(["monetary_total"] if p.get("monetary") else [])]


def window_days(p: dict) -> list[int]:
    """The whole history: no band edges."""
    return []


def tenure(pit: ibis.Table) -> ibis.Table:
    """Days since the first event of any kind."""
    return pit.group_by(KEYS).aggregate(tenure_days=in_days(pit[AGE_US].max()))


def purchases(pit: ibis.Table, p: dict) -> ibis.Table:
    """Purchase occasions and spend, over purchases only (a small slice of the log).

    A day's age is the time from its midnight to the cutoff, so the newest purchase day has
    the smallest day age and the first purchase day the largest.
    """
    bought = pit.filter(is_event(pit, p["purchase_events"]))
    day = day_age(bought)
    metrics = {
        "newest": day.min(),
        "oldest": day.max(),
        "purchase_days": day.nunique(),
    }
    if p.get("monetary"):
        amount = bought[AMOUNT]
        metrics |= {
            "monetary_total": amount.sum(),
            "monetary_mean": amount.mean(),
            "monetary_max": amount.max(),
        }
    agg = bought.group_by(KEYS).aggregate(**metrics)
    derived = {
        "recency_days": in_days(agg["newest"]),
        "frequency": null_unless(agg["purchase_days"] > 0, agg["purchase_days"] - 1),
        "bgnbd_recency_days": in_days(agg["oldest"] - agg["newest"]),
        "t_days": in_days(agg["oldest"]),
        "purchase_days": agg["purchase_days"],
    }
    derived |= {name: agg[name] for name in MONETARY if p.get("monetary")}
    return agg.select(*KEYS, **derived)


def purchase_days(pit: ibis.Table, purchase_events: list[str], monetary: bool) -> ibis.Table:
    """One row per snapshot and purchase day: the day's age and (with amounts) its summed
    spend, 0 for a day whose amounts are all missing (as pandas sums them in lifetimes).

    Amounts are summed as decimals (to 1e-9), exactly: a float sum depends on the order in
    which a parallel engine adds the rows, and a model fitted on the sums (the clv family)
    would turn that last-bit noise into visibly different parameters from run to run.
    """
    bought = pit.filter(is_event(pit, purchase_events))
    metrics = {SPEND: bought[AMOUNT].cast(EXACT).sum().coalesce(0)} if monetary else {}
    return bought.group_by([*KEYS, day_age(bought).name(DAY)]).aggregate(**metrics)


def bgnbd_summary(pit: ibis.Table, purchase_events: list[str], monetary: bool) -> ibis.Table:
    """Per snapshot with a purchase, lifetimes' calibration summary (``freq='D'``, the
    period ending the day before the cutoff): ``frequency``, ``recency``, ``T`` in days
    and, with amounts, ``monetary_value``.

    T counts whole days from the first purchase day to the day holding the instant before
    the cutoff: ceil(first day's age) - 1, computed in integer microseconds. The repeat
    days' mean spend is every day's spend less the first day's, over the repeat days.
    """
    days = purchase_days(pit, purchase_events, monetary)
    metrics = {"n_days": days.count(), "oldest": days[DAY].max(), "newest": days[DAY].min()}
    if monetary:
        metrics |= {"total": days[SPEND].sum(), "first": days[SPEND].argmax(days[DAY])}
    agg = days.group_by(KEYS).aggregate(**metrics)
    repeats = agg["n_days"] - 1
    summary = {
        "frequency": repeats.cast("float64"),
        "recency": in_days(agg["oldest"] - agg["newest"]),
        "T": ((agg["oldest"] - 1) // MICROS_PER_DAY).cast("float64"),
    }
    if monetary:
        mean = (agg["total"] - agg["first"]).cast("float64") / repeats
        summary["monetary_value"] = ibis.ifelse(repeats > 0, mean, 0.0)
    return agg.select(*KEYS, **summary)


def bgnbd_inputs(pit: ibis.Table, p: dict) -> ibis.Table:
    """lifetimes' T and repeat spend under this family's names."""
    monetary = bool(p.get("monetary"))
    summary = bgnbd_summary(pit, p["purchase_events"], monetary)
    names = {"bgnbd_t_days": summary["T"]}
    if monetary:
        names["monetary_repeat_mean"] = summary["monetary_value"]
    return summary.select(SID, **names)


def tables(src: Sources, p: dict) -> list[ibis.Table]:
    """Tenure over all events; the rest from purchase events."""
    parts = [tenure(src.pit), purchases(src.pit, p)]
    return [*parts, *([bgnbd_inputs(src.pit, p)] if p.get("bgnbd") else [])]


def descriptions(p: dict) -> dict[str, dict]:
    """A person's reading of each column (see ``common.described``)."""
    none = "no purchase yet"
    table = {
        "recency_days": described("days since the last purchase day", "days", none),
        "frequency": described("repeat purchase days", "count", none),
        "bgnbd_recency_days": described(
            "days between the first and last purchase days", "days", none
        ),
        "t_days": described("days since the first purchase day", "days", none, calendar=True),
        "tenure_days": described(
            "days since the first event", "days", "no event yet", calendar=True
        ),
        "purchase_days": described("days with a purchase", "count"),
        "monetary_total": described("spent in all", "amount", none),
        "monetary_mean": described("spent per purchase on average", "amount", none),
        "monetary_max": described("spent on the largest purchase", "amount", none),
        "bgnbd_t_days": described(
            "days from the first purchase day to the day before the cutoff (BG/NBD T)",
            "days",
            none,
            calendar=True,
        ),
        "monetary_repeat_mean": described(
            "spent per repeat purchase day on average (0 without a repeat day)", "amount", none
        ),
    }
    return {name: table[name] for name in columns(p)}
