"""RFM and BG/NBD summaries over purchase occasions (distinct purchase days).

Same-day purchases count once, as in the BG/NBD literature: frequency is the number of
repeat purchase days, recency (BG/NBD) the days from the first to the last purchase day,
T the days from the first purchase day to the cutoff. ``recency_days`` is the days from the
last purchase day to the cutoff; tenure the days since the first event of any kind.
"""

import ibis

from behaviorlab.data.contract import AMOUNT
from behaviorlab.features.engine import AGE_US, day_age
from behaviorlab.features.families.common import (
    KEYS,
    Sources,
    described,
    in_days,
    is_event,
    null_unless,
)

MONETARY = ("monetary_total", "monetary_mean", "monetary_max")


def columns(p: dict) -> list[str]:
    """Recency, frequency, T, tenure, purchase days and (with amounts) monetary values."""
    names = ["recency_days", "frequency", "bgnbd_recency_days", "t_days", "tenure_days"]
    return [*names, "purchase_days", *(MONETARY if p.get("monetary") else ())]


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


def tables(src: Sources, p: dict) -> list[ibis.Table]:
    """Tenure over all events; the rest from purchase events."""
    return [tenure(src.pit), purchases(src.pit, p)]


def descriptions(p: dict) -> dict[str, dict]:
    """A person's reading of each column (see ``common.described``)."""
    none = "no purchase yet"
    table = {
        "recency_days": described("days since the last purchase", "days", none),
        "frequency": described("repeat purchase days", "count", none),
        "bgnbd_recency_days": described("days between the first and last purchase", "days", none),
        "t_days": described("days since the first purchase", "days", none, calendar=True),
        "tenure_days": described(
            "days since the first event", "days", "no event yet", calendar=True
        ),
        "purchase_days": described("days with a purchase", "count"),
        "monetary_total": described("spent in all", "amount", none),
        "monetary_mean": described("spent per purchase on average", "amount", none),
        "monetary_max": described("spent on the largest purchase", "amount", none),
    }
    return {name: table[name] for name in columns(p)}
