"""Column-safe names for values that end up in feature names."""

import re


def slug(name: str) -> str:
    """A stable, column-safe form of an event name (``Add to Cart`` -> ``add_to_cart``)."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")


def words(name: str) -> str:
    """An event name as a person reads it in a sentence (``support_contact`` -> ``support
    contact``)."""
    return re.sub(r"[_\s]+", " ", str(name)).strip()
