"""Funnel depth: the furthest configured step reached within each window (0 = none).

A step is a list of event names; depth counts steps reached, whatever their order, so a
customer who purchased in the window has the full depth even without a logged page view.
"""

import ibis

from behaviorlab.data.contract import EVENT
from behaviorlab.features.families.common import KEYS, recent, within_days


def columns(p: dict) -> list[str]:
    """One depth per window."""
    return [f"funnel_depth_{w}d" for w in p["windows"]]


def zero_filled(p: dict) -> list[str]:
    """No funnel events: depth 0."""
    return columns(p)


def step_of(pit: ibis.Table, steps: list[list[str]]) -> ibis.Value:
    """1-based step index of each event, the highest when a name sits in several steps."""
    branches = [
        (pit[EVENT].isin(list(names)), index)
        for index, names in reversed(list(enumerate(steps, start=1)))
    ]
    return ibis.cases(*branches, else_=0)


def compute(pit: ibis.Table, p: dict) -> list[ibis.Table]:
    """Max step per window, over the funnel events of the widest window."""
    pit = recent(pit, max(p["windows"]))
    pit = pit.filter(pit[EVENT].isin([name for names in p["steps"] for name in names]))
    step = step_of(pit, p["steps"])
    metrics = {f"funnel_depth_{w}d": step.max(where=within_days(pit, w)) for w in p["windows"]}
    return [pit.group_by(KEYS).aggregate(**metrics)]
