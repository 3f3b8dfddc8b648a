"""Feature families: each module names its columns and describes its aggregates in Ibis.

The builder runs every enabled family in one engine query over the point-in-time joined
events (only rows with ``timestamp < cutoff``; see ``engine.join_before_cutoff``). Each
event family gives ``tables(pit, typed, p)``: tables keyed by the snapshot id holding its
feature columns, computed from the events (``pit``) or, much cheaper, from the shared
per-type summary (``typed``: one row per snapshot, event type and window band; see
``common.summarise_by_type``). ``window_days(p)`` lists the window lengths the family
reads from that summary, so that every window is a union of bands.

``zero_filled(p)`` lists the columns that are 0, not missing, for a snapshot without any
matching events.
"""

from behaviorlab.features.families import (
    activity,
    attributes,
    diversity,
    funnel,
    rfm,
    sessions,
    timing,
    trends,
)

EVENT_FAMILY_MODULES = {
    "rfm": rfm,
    "activity": activity,
    "trends": trends,
    "timing": timing,
    "sessions": sessions,
    "diversity": diversity,
    "funnel": funnel,
}
FAMILY_MODULES = {**EVENT_FAMILY_MODULES, "attributes": attributes}
