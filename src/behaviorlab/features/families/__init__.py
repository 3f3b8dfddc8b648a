"""Feature families: each module names its columns and describes its aggregates in Ibis.

The builder materialises the point-in-time joined events once (only rows with
``timestamp < cutoff``; see ``engine.join_before_cutoff``) together with what several
families derive from them, and hands them over as ``common.Sources``: the events
(``pit``), a per-type summary (``typed``: one row per snapshot, event type and window
band; see ``common.summarise_by_type``) and the gaps between consecutive events
(``gaps``; see ``engine.event_gaps``). Each event family gives ``tables(src, p)``: tables
keyed by the snapshot id holding its feature columns, read from the cheapest source that
answers them. ``window_days(p)`` lists the window lengths the family reads from the
summary, so that every window is a union of bands.

``zero_filled(p)`` lists the columns that are 0, not missing, for a snapshot without any
matching events.
"""

from behaviorlab.features.families import (
    activity,
    attributes,
    disengagement,
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
    "disengagement": disengagement,
}
FAMILY_MODULES = {**EVENT_FAMILY_MODULES, "attributes": attributes}
