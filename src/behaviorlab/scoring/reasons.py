"""Reasons a person can read: what raised a customer's risk, in words, numbers and context.

A reason reads ``23 days since the last purchase (retained customers: median 6)``: the
feature's description (features/families/*.py ``descriptions``), the customer's own value
and a reference from the training data, the median among the label-0 rows (the customers
who stayed, did not convert, ...). Only features that raise the prediction are reasons.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from behaviorlab.data.contract import LABEL

NEGATIVE_GROUPS = {
    "churn": "retained customers",
    "conversion": "non-converters",
    "repurchase": "customers who did not repurchase",
}
POSITIVE_OUTCOMES = {
    "churn": "churners",
    "conversion": "converters",
    "repurchase": "repurchasers",
}
CATEGORICAL_UNITS = ("level",)
NAMED_UNITS = ("level", "value")


def reference_group(task: Mapping[str, Any]) -> str:
    """Who the reference values describe: the customers with label 0, named by task kind."""
    kind = task.get("kind")
    if kind == "attributes":
        return f"customers whose {task['label_column']} is not {task['positive_value']}"
    return NEGATIVE_GROUPS.get(kind, "customers with label 0")


def positive_outcomes(task: Mapping[str, Any]) -> str:
    """What the positives of a task are called, for "expected churners" in a summary."""
    if task.get("kind") == "attributes":
        return f"{task['label_column']}={task['positive_value']}"
    return POSITIVE_OUTCOMES.get(task.get("kind"), "positives")


def reference_values(frame: pd.DataFrame, feature_names: Sequence[str]) -> dict[str, Any]:
    """Per feature, the median among label-0 rows (the most common level for categoricals);
    None when those rows have no value. Plain JSON, so it travels inside the model."""
    negative = frame.loc[frame[LABEL] == 0]
    values: dict[str, Any] = {}
    for name in feature_names:
        column = negative[name]
        if isinstance(column.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(
            column
        ):
            common = column.dropna().astype("str").value_counts()
            values[name] = str(common.index[0]) if len(common) else None
        else:
            median = column.astype("float64").median()
            values[name] = None if pd.isna(median) else float(median)
    return values


def reason_spec(
    resolved_features: dict,
    frame: pd.DataFrame,
    feature_names: Sequence[str],
    task: Mapping[str, Any],
) -> dict[str, Any]:
    """What the model stores to write readable reasons: the reference group's name and,
    per feature, its description, unit, missing phrase and reference value."""
    # Imported here: feature specs need Ibis, which a served model neither has nor needs.
    from behaviorlab.features.spec import feature_descriptions

    described = feature_descriptions(resolved_features)
    references = reference_values(frame, feature_names)
    return {
        "group": reference_group(task),
        "features": {
            name: {**fallback_entry(name), **described.get(name, {}), "reference": references[name]}
            for name in feature_names
        },
    }


def fallback_entry(name: str) -> dict[str, Any]:
    """A feature the model knows no description of: its name, printed as ``name: value``."""
    return {"description": name, "unit": "value", "missing": None, "calendar": False}


def number_text(value: float) -> str:
    """Whole numbers from 10 up, one decimal below: what a person reads at a glance."""
    rounded = round(value) if abs(value) >= 10 else round(value, 1)
    if float(rounded).is_integer():
        return f"{int(rounded):,}"
    return f"{rounded:,.1f}"


def value_text(value: Any, unit: str) -> str:
    """A value printed for its unit: shares as percentages, changes signed, ratios with ×."""
    if unit in CATEGORICAL_UNITS or isinstance(value, str):
        return str(value)
    value = float(value)
    if unit == "share":
        return f"{value:.0%}"
    if unit == "change":
        return ("+" if value > 0 else "") + number_text(value)
    if unit == "ratio":
        return f"{number_text(value)}×"
    return number_text(value)


def is_missing(value: Any) -> bool:
    """None, NaN and pandas' NA alike."""
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def reason_text(entry: Mapping[str, Any], value: Any, group: str | None) -> str:
    """``<value> <description> (<group>: median <reference>)``; attributes read
    ``<name>: <value>``, missing values their own phrase."""
    description, unit = entry["description"], entry["unit"]
    if is_missing(value):
        head = entry.get("missing") or f"{description}: unknown"
    elif unit in NAMED_UNITS:
        head = f"{description}: {value_text(value, unit)}"
    else:
        head = f"{value_text(value, unit)} {description}"
    reference = entry.get("reference")
    if group is None or is_missing(reference):
        return head
    if unit in CATEGORICAL_UNITS:
        return f"{head} ({group}: most often {reference})"
    shown = value_text(reference, unit)
    if is_missing(value) and unit not in NAMED_UNITS:
        shown = f"{shown} {description}"
    return f"{head} ({group}: median {shown})"


def positive_reasons(
    contributions: pd.DataFrame, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The k largest positive contributions per row: (feature names, values, present mask).

    A factor that lowers the risk is never a reason, so a row has fewer than k reasons
    when fewer features push its prediction up.
    """
    values = contributions.to_numpy(dtype=float)
    order = np.argsort(-values, axis=1, kind="stable")[:, :k]
    picked = np.take_along_axis(values, order, axis=1)
    names = np.asarray(contributions.columns, dtype=object)[order]
    return names, picked, picked > 0


def reason_texts(
    features: pd.DataFrame,
    names: np.ndarray,
    present: np.ndarray,
    reasons: Mapping[str, Any] | None,
) -> list[list[str | None]]:
    """Readable text of each picked reason (None where there is none), per rank."""
    entries = (reasons or {}).get("features") or {}
    group = (reasons or {}).get("group")
    texts: list[list[str | None]] = []
    for rank in range(names.shape[1]):
        column: list[str | None] = [None] * len(features)
        for name in pd.unique(names[present[:, rank], rank]):
            rows = np.flatnonzero(present[:, rank] & (names[:, rank] == name))
            entry = entries.get(name) or fallback_entry(name)
            values = features[name].iloc[rows].astype("object").tolist()
            for row, value in zip(rows, values, strict=True):
                column[row] = reason_text(entry, value, group)
        texts.append(column)
    return texts
