"""RFM and BG/NBD summaries over purchase occasions (distinct purchase days).

Same-day purchases count once, as in the BG/NBD literature: frequency is the number of
repeat purchase days, recency (BG/NBD) the days from the first to the last purchase day,
T the days from the first purchase day to the cutoff.
"""

import ibis

from behaviorlab.data.contract import AMOUNT, CUTOFF, TIMESTAMP
from behaviorlab.features.engine import days_between
from behaviorlab.features.families.common import KEYS, is_event, null_unless

MONETARY = ("monetary_total", "monetary_mean", "monetary_max")


def columns(p: dict) -> list[str]:
    """Recency, frequency, T, tenure, purchase days and (with amounts) monetary values."""
    names = ["recency_days", "frequency", "bgnbd_recency_days", "t_days", "tenure_days"]
    return [*names, "purchase_days", *(MONETARY if p.get("monetary") else ())]


def zero_filled(p: dict) -> list[str]:
    """No purchases: zero purchase days and zero spend; the rest is undefined."""
    return ["purchase_days", *(["monetary_total"] if p.get("monetary") else [])]


def compute(pit: ibis.Table, p: dict) -> list[ibis.Table]:
    """One aggregate per snapshot, then day arithmetic relative to the cutoff."""
    bought = is_event(pit, p["purchase_events"])
    day = pit[TIMESTAMP].truncate("D")
    metrics = {
        "first_event": pit[TIMESTAMP].min(),
        "first_day": day.min(where=bought),
        "last_day": day.max(where=bought),
        "purchase_days": day.nunique(where=bought),
    }
    if p.get("monetary"):
        amount = pit[AMOUNT]
        metrics |= {
            "monetary_total": amount.sum(where=bought),
            "monetary_mean": amount.mean(where=bought),
            "monetary_max": amount.max(where=bought),
        }
    agg = pit.group_by(KEYS).aggregate(**metrics)
    derived = {
        "recency_days": days_between(agg[CUTOFF], agg["last_day"]),
        "frequency": null_unless(agg["purchase_days"] > 0, agg["purchase_days"] - 1),
        "bgnbd_recency_days": days_between(agg["last_day"], agg["first_day"]),
        "t_days": days_between(agg[CUTOFF], agg["first_day"]),
        "tenure_days": days_between(agg[CUTOFF], agg["first_event"]),
        "purchase_days": agg["purchase_days"],
    }
    derived |= {name: agg[name] for name in MONETARY if p.get("monetary")}
    return [agg.select(*KEYS, **derived)]
