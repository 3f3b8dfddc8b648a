"""Config value rules: every shipped config passes its app's rules, a bad value names its
key and range, and the checks stay pure (no file or store touched)."""

import pytest

from behaviorlab.apps import checks
from behaviorlab.errors import ConfigError
from tests.helpers import compose_config

SHIPPED = [
    ("train", []),
    ("train", ["experiment=sim_churn"]),
    ("train", ["experiment=sim_conversion"]),
    ("train", ["experiment=cdnow_repurchase"]),
    ("train", ["experiment=ecom_conversion"]),
    ("train", ["task=conversion"]),
    ("train", ["task=repurchase"]),
    ("train", ["task=attributes", "features=attributes"]),
    ("train", ["split=customer_cv", "model=logistic", "tuning=smoke"]),
    ("score", []),
    ("score", ["output.path=scores.csv", "cutoff=2025-05-01", "window_days=30"]),
    ("promote", []),
    ("promote", ["action=rollback", "version=3"]),
    ("analyze", []),
    ("analyze", ["data=ecom"]),
    ("analyze", ["data=cdnow"]),
    ("simulate", []),
]


def rules_of(app: str) -> checks.Rules:
    return getattr(checks, f"{app.upper()}_RULES")


@pytest.mark.parametrize(("app", "overrides"), SHIPPED, ids=lambda value: str(value))
def test_shipped_configs_pass_their_rules(app, overrides, tmp_path):
    checks.check_config(compose_config(app, overrides), rules_of(app))

    assert list(tmp_path.iterdir()) == [tmp_path / "mlruns"]


@pytest.mark.parametrize(
    ("app", "override", "message"),
    [
        (
            "train",
            "split.calibration_share=0",
            "split.calibration_share must be a number in (0, 1)",
        ),
        ("train", "evaluation.top_k_fracs=[0.1,1.5]", "evaluation.top_k_fracs item must be"),
        ("train", "registry.gate.floor=1.2", "registry.gate.floor must be a number in [0, 1]"),
        ("train", "registry.gate.guards.brier=-0.01", "registry.gate.guards entry 'brier'"),
        (
            "train",
            "tracking.heartbeat_seconds=0",
            "tracking.heartbeat_seconds must be a number > 0",
        ),
        ("train", "features.windows=[7,0]", "features.windows item must be an integer >= 1"),
        ("train", "scoring.n_reasons=-1", "scoring.n_reasons must be an integer >= 0"),
        ("score", "output.path=/dev/null/scores.csv", "/dev/null is a file, not a folder"),
        ("analyze", "analysis.cohorts.behaviour.confidence=1", "behaviour confidence must be"),
        ("analyze", "truth_path=/nowhere/truth.parquet", "truth_path names no file"),
        ("simulate", "chunk_customers=0", "chunk_customers must be an integer >= 1, got 0"),
    ],
)
def test_bad_value_names_key_and_range(app, override, message):
    with pytest.raises(ConfigError) as refused:
        checks.check_config(compose_config(app, [override]), rules_of(app))

    assert message in str(refused.value)


def test_first_failing_key_in_rule_order_is_reported():
    cfg = compose_config("score", ["chunk_size=0", "psi_warn=-1"])

    with pytest.raises(ConfigError, match=r"^chunk_size "):
        checks.check_config(cfg, checks.SCORE_RULES)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("churn@champion", None),
        ("churn/3", None),
        ("churn", None),
        ("churn/0", "must be name@alias"),
        ("churn@", "must be name@alias"),
        ("@champion", "must be name@alias"),
    ],
)
def test_model_reference_forms(value, problem):
    found = checks.model_reference(value)

    assert found == problem if problem is None else problem in found


def test_duckdb_output_needs_a_table_name():
    assert "table must be a table name" in checks.duckdb_output({"database": "x.db", "table": ""})
    assert checks.duckdb_output({"database": "x.db", "table": "scores"}) is None
