"""Readable reasons: every feature has a description, only risk-raising factors are reasons,
and each reads as the customer's value against the label-0 median."""

import numpy as np
import pandas as pd

from behaviorlab.features.spec import (
    calendar_features,
    feature_columns,
    feature_descriptions,
    resolve_feature_spec,
)
from behaviorlab.scoring.reasons import (
    positive_reasons,
    reason_spec,
    reason_text,
    reason_texts,
    reference_group,
    reference_values,
)

DAY0 = pd.Timestamp("2024-01-01")


def small_log() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = [
        ("a", 0, "page_view", 0.0),
        ("a", 3, "purchase", 20.0),
        ("a", 9, "support_contact", 0.0),
        ("b", 1, "page_view", 0.0),
        ("b", 2, "add_to_cart", 0.0),
        ("b", 4, "checkout", 0.0),
        ("b", 5, "purchase", 5.0),
    ]
    ids, days, names, amounts = zip(*rows, strict=True)
    events = pd.DataFrame(
        {
            "customer_id": pd.array(ids, dtype="str"),
            "timestamp": pd.Series([DAY0 + pd.Timedelta(days=d) for d in days]),
            "event": pd.array(names, dtype="str"),
            "amount": amounts,
            "session_id": pd.array(["s1", "s2", "s3", "s4", "s4", "s5", "s5"], dtype="str"),
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": pd.array(["a", "b"], dtype="str"),
            "signup_at": [DAY0 - pd.Timedelta(days=30), DAY0 - pd.Timedelta(days=2)],
            "plan": pd.array(["free", "pro"], dtype="str"),
            "seats": [1.0, 4.0],
        }
    )
    return events, customers


def test_every_feature_column_has_a_description_and_unit():
    events, customers = small_log()
    resolved = resolve_feature_spec({}, events, customers)
    described = feature_descriptions(resolved)
    assert list(described) == feature_columns(resolved)
    for name, entry in described.items():
        assert entry["description"], name
        assert entry["unit"], name
    assert described["plan"]["unit"] == "level"
    assert {"days_since_signup", "tenure_days", "t_days"} & set(calendar_features(resolved))
    assert "recency_days" not in calendar_features(resolved)


def test_a_reason_reads_value_description_and_reference():
    entry = {"description": "days since the last purchase", "unit": "days", "reference": 6.0}
    assert reason_text(entry, 23.4, "retained customers") == (
        "23 days since the last purchase (retained customers: median 6)"
    )
    share = {"description": "of events at night", "unit": "share", "reference": 0.1}
    assert reason_text(share, 0.42, "non-converters") == (
        "42% of events at night (non-converters: median 10%)"
    )
    plan = {"description": "plan", "unit": "level", "reference": "pro"}
    assert reason_text(plan, "free", "g") == "plan: free (g: most often pro)"
    missing = {**entry, "missing": "no purchase yet"}
    assert reason_text(missing, np.nan, "g") == (
        "no purchase yet (g: median 6 days since the last purchase)"
    )
    assert reason_text({**entry, "reference": None}, 2.0, "g") == "2 days since the last purchase"


def test_only_factors_that_raise_the_risk_are_reasons():
    contributions = pd.DataFrame(
        {"x": [0.5, -0.2], "y": [-0.9, -0.1], "z": [0.1, -0.3]}, index=[10, 11]
    )
    names, values, present = positive_reasons(contributions, 3)
    assert names[0, :2].tolist() == ["x", "z"]
    assert values[0, :2].tolist() == [0.5, 0.1]
    assert present.tolist() == [[True, True, False], [False, False, False]]
    features = pd.DataFrame({"x": [3.0, 1.0], "y": [0.0, 0.0], "z": [7.0, 2.0]})
    reasons = {
        "group": "retained customers",
        "features": {
            "x": {"description": "sessions", "unit": "count", "reference": 5.0},
            "z": {"description": "days since the last login", "unit": "days", "reference": 2.0},
        },
    }
    texts = reason_texts(features, names, present, reasons)
    assert texts[0] == ["3 sessions (retained customers: median 5)", None]
    assert texts[1] == ["7 days since the last login (retained customers: median 2)", None]
    assert texts[2] == [None, None]


def test_references_are_medians_of_label_zero_rows_named_by_task():
    frame = pd.DataFrame(
        {
            "label": [0, 0, 0, 1],
            "spend": [1.0, 3.0, np.nan, 100.0],
            "plan": pd.Categorical(["free", "pro", "pro", "free"]),
        }
    )
    assert reference_values(frame, ["spend", "plan"]) == {"spend": 2.0, "plan": "pro"}
    assert reference_group({"kind": "churn"}) == "retained customers"
    assert reference_group({"kind": "conversion"}) == "non-converters"
    events, customers = small_log()
    resolved = resolve_feature_spec({"rfm": False}, events, customers)
    table = pd.DataFrame({"label": [0, 1], "seats": [2.0, 9.0], "plan": ["pro", "free"]})
    spec = reason_spec(resolved, table, ["seats", "plan"], {"kind": "churn"})
    assert spec["group"] == "retained customers"
    assert spec["features"]["seats"]["reference"] == 2.0
    assert spec["features"]["plan"]["reference"] == "pro"
