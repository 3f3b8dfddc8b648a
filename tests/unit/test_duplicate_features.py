"""Spec resolution drops a feature that repeats another exactly, from the history only."""

import warnings

import pandas as pd
import pytest

from behaviorlab.data.validation import DataQualityWarning
from behaviorlab.features.spec import feature_columns, resolve_feature_spec

DAY0 = pd.Timestamp("2024-01-01")


def log(first_days: dict[str, float]) -> pd.DataFrame:
    rows = [(c, DAY0 + pd.Timedelta(days=d + k)) for c, d in first_days.items() for k in (0, 5)]
    return pd.DataFrame(
        {
            "customer_id": pd.array([c for c, _ in rows], dtype="str"),
            "timestamp": pd.Series([t for _, t in rows], dtype="datetime64[us]"),
            "event": pd.array(["login"] * len(rows), dtype="str"),
        }
    )


CUSTOMERS = pd.DataFrame(
    {
        "customer_id": pd.array(["a", "b"], dtype="str"),
        "signup_at": pd.Series([DAY0, DAY0 + pd.Timedelta(days=2)], dtype="datetime64[us]"),
    }
)


def test_tenure_is_dropped_when_every_first_event_is_the_signup():
    with pytest.warns(DataQualityWarning, match="tenure_days"):
        resolved = resolve_feature_spec({}, log({"a": 0, "b": 2}), CUSTOMERS, as_of="2024-02-01")
    assert resolved["dropped"] == {"tenure_days": "days_since_signup"}
    assert "tenure_days" not in feature_columns(resolved)
    assert "days_since_signup" in feature_columns(resolved)


def test_tenure_stays_when_a_first_event_differs_from_the_signup():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataQualityWarning)
        resolved = resolve_feature_spec({}, log({"a": 0, "b": 3}), CUSTOMERS, as_of="2024-02-01")
    assert resolved["dropped"] == {}
    assert "tenure_days" in feature_columns(resolved)


def test_the_decision_ignores_events_at_or_after_as_of():
    events = log({"a": 0, "b": 2})
    late = pd.DataFrame(
        {
            "customer_id": pd.array(["c"], dtype="str"),
            "timestamp": pd.Series([pd.Timestamp("2024-03-01")], dtype="datetime64[us]"),
            "event": pd.array(["login"], dtype="str"),
        }
    )
    customers = pd.concat(
        [CUSTOMERS, CUSTOMERS.iloc[:1].assign(customer_id="c", signup_at=DAY0)], ignore_index=True
    )
    longer = pd.concat([events, late], ignore_index=True)
    with pytest.warns(DataQualityWarning):
        before = resolve_feature_spec({}, events, customers, as_of="2024-02-01")
    with pytest.warns(DataQualityWarning):
        after = resolve_feature_spec({}, longer, customers, as_of="2024-02-01")
    assert before == after
    assert before["dropped"] == {"tenure_days": "days_since_signup"}
