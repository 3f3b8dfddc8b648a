"""Feature families: each module names its columns and builds one Ibis aggregate.

Every ``compute(pit, params)`` takes the point-in-time joined events (only rows with
``timestamp < cutoff``; see ``engine.join_before_cutoff``) and returns a table keyed by
``(customer_id, cutoff)``. ``zero_filled(params)`` lists the columns that are 0, not
missing, for a snapshot without any matching events.
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
