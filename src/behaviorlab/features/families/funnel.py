"""Funnel depth: the furthest configured step reached within each window (0 = none).

A step is a list of event names; depth counts steps reached, whatever their order, so a
customer who purchased in the window has the full depth even without a logged page view.
"""

import ibis

from behaviorlab.data.contract import EVENT
from behaviorlab.features.families.common import KEYS, Sources, described, typed_within


def columns(p: dict) -> list[str]:
    """One depth per window."""
    return [f"funnel_depth_{w}d" for w in p["windows"]]


def zero_filled(p: dict) -> list[str]:
    """No funnel events: depth 0."""
    return columns(p)


def step_of(table: ibis.Table, steps: list[list[str]]) -> ibis.Value:
    """1-based step index of each event (0 outside the funnel), the highest when a name
    sits in several steps."""
    branches = [
        (table[EVENT].isin(list(names)), index)
        for index, names in reversed(list(enumerate(steps, start=1)))
    ]
    return ibis.cases(*branches, else_=0)


def window_days(p: dict) -> list[int]:
    """Band edges this family reads from the per-type summary."""
    return list(p["windows"])


def tables(src: Sources, p: dict) -> list[ibis.Table]:
    """Max step per window over the per-type summary; other types count as step 0."""
    typed = src.typed
    step = step_of(typed, p["steps"])
    metrics = {f"funnel_depth_{w}d": step.max(where=typed_within(typed, w)) for w in p["windows"]}
    return [typed.group_by(KEYS).aggregate(**metrics)]


def descriptions(p: dict) -> dict[str, dict]:
    """A person's reading of each column (see ``common.described``)."""
    steps = len(p["steps"])
    return {
        f"funnel_depth_{w}d": described(
            f"of {steps} funnel steps reached in the last {w} days", "count"
        )
        for w in p["windows"]
    }
