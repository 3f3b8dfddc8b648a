"""Column-safe names for values that end up in feature names."""

import re


def slug(name: str) -> str:
    """A stable, column-safe form of an event name (``Add to Cart`` -> ``add_to_cart``)."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")
