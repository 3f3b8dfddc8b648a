"""Comparing runs on tiny hand-written score frames: shared rows, the table, the page."""

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from behaviorlab.apps.checks import COMPARE_RULES, check_config
from behaviorlab.errors import ConfigError
from behaviorlab.modeling.compare import (
    GATE,
    HOLDOUT,
    compare_to_baseline,
    join_scores,
    label_runs,
    metrics_table,
    shared_rows,
)
from behaviorlab.modeling.compare_page import build_page, draw_curves
from tests.helpers import compose_config

C1, C2 = pd.Timestamp("2025-01-01"), pd.Timestamp("2025-02-01")


def scores(ids, cutoffs, labels, probabilities) -> pd.DataFrame:
    return pd.DataFrame(
        {"customer_id": ids, "cutoff": cutoffs, "label": labels, "probability": probabilities}
    )


def many(seed: int, n: int = 200, offset: int = 0) -> pd.DataFrame:
    """n scored rows whose probabilities follow the labels more or less closely."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)
    noise = np.random.default_rng(seed).normal(0, 0.3 + 0.3 * seed, n)
    p = np.clip(0.3 + 0.4 * y + noise, 0.01, 0.99)
    return scores([f"c{i + offset}" for i in range(n)], [C1] * n, y, p)


def test_join_keeps_rows_both_hold_with_each_probability():
    a = scores(["x", "y", "z"], [C1, C1, C2], [1, 0, 1], [0.9, 0.2, 0.6])
    b = scores(["y", "z", "w"], [C1, C2, C1], [0, 1, 0], [0.3, 0.7, 0.1])
    joined, conflicts = join_scores({"a": a, "b": b})
    expected = pd.DataFrame(
        {
            "customer_id": ["y", "z"],
            "cutoff": [C1, C2],
            "label": [0, 1],
            "a": [0.2, 0.6],
            "b": [0.3, 0.7],
        }
    )
    assert_frame_equal(joined, expected, check_dtype=False)
    assert conflicts == 0


def test_join_matches_cutoff_too_and_drops_rows_whose_labels_disagree():
    a = scores(["x", "y", "z"], [C1, C1, C1], [1, 0, 1], [0.9, 0.2, 0.6])
    b = scores(["x", "y", "z"], [C2, C1, C1], [1, 1, 1], [0.8, 0.3, 0.7])
    joined, conflicts = join_scores({"a": a, "b": b})
    assert list(joined["customer_id"]) == ["z"]
    assert conflicts == 1


def test_shared_rows_prefer_gate_then_fall_back_to_holdout_then_none():
    gate = {"a": many(0), "b": many(1)}
    holdout = {"a": many(0, offset=1000), "b": many(1, offset=1000)}
    assert shared_rows(gate, holdout).source == GATE

    apart = {"a": many(0), "b": many(1, offset=500)}
    rows = shared_rows(apart, holdout)
    assert rows.source == HOLDOUT
    assert len(rows.frame) == 200

    missing_gate = shared_rows({"a": many(0), "b": None}, holdout)
    assert missing_gate.source == HOLDOUT

    nothing = shared_rows(apart, {"a": many(0), "b": many(1, offset=500)})
    assert nothing.source is None
    assert nothing.describe() == "no shared rows"


def test_difference_is_run_minus_baseline_with_an_interval_around_it():
    holdout = {"weak": many(2), "strong": many(0)}
    (pair,) = compare_to_baseline({"weak": None, "strong": None}, holdout, 300, 0, 0.95)
    auc = pair.differences["roc_auc"]
    assert pair.label == "strong"
    assert pair.rows.source == HOLDOUT
    assert auc["low"] <= auc["point"] <= auc["high"]
    assert auc["low"] > 0  # the strong model is clearly better on the same rows
    assert pair.differences["brier"]["point"] < 0
    assert set(pair.differences) == {"roc_auc", "pr_auc", "brier"}


def test_runs_sharing_no_rows_get_no_difference_and_the_page_says_so():
    holdout = {"a": many(0), "b": many(1, offset=500)}
    (pair,) = compare_to_baseline({"a": None, "b": None}, holdout, 200, 0, 0.9)
    assert pair.differences is None
    table = metrics_table(["a", "b"], [{"test_roc_auc": 0.7}, {}])
    curve_rows = shared_rows({"a": None, "b": None}, holdout)
    page = build_page("t", table, [pair], 0.9, curve_rows, draw_curves(curve_rows, ["a", "b"], 5))
    assert "no rows shared with a: no difference" in page
    assert "no curves" in page
    assert "<img" not in page


def test_metrics_table_has_one_row_per_run_and_nan_for_unlogged():
    table = metrics_table(["a", "b"], [{"test_roc_auc": 0.7, "other": 1.0}, {"test_brier": 0.1}])
    assert list(table["run"]) == ["a", "b"]
    assert table.loc[0, "test_roc_auc"] == 0.7
    assert np.isnan(table.loc[1, "test_roc_auc"])
    assert "other" not in table.columns


def test_labels_tell_apart_runs_with_the_same_name():
    assert label_runs(["m", "m", "n"], ["aaaaaaaa11", "bbbbbbbb22", "cc"]) == [
        "m (aaaaaaaa)",
        "m (bbbbbbbb)",
        "n",
    ]


def test_page_embeds_curves_and_the_difference_with_its_interval():
    gate = {"base <1>": many(1), "new": many(0)}
    holdout = {"base <1>": many(1, offset=900), "new": many(0, offset=900)}
    pairs = compare_to_baseline(gate, holdout, 200, 0, 0.95)
    table = metrics_table(list(gate), [{"test_roc_auc": 0.7}, {"test_roc_auc": 0.8}])
    curve_rows = shared_rows(gate, holdout)
    page = build_page(
        "Compare", table, pairs, 0.95, curve_rows, draw_curves(curve_rows, [*gate], 5)
    )
    assert page.count('src="data:image/png;base64,') == 3
    assert "base &lt;1&gt;" in page
    assert "base <1>" not in page
    auc = pairs[0].differences["roc_auc"]
    assert f"{auc['point']:+.4f} [{auc['low']:+.4f}, {auc['high']:+.4f}]" in page
    assert "200 gate holdout rows" in page


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["runs=[a]"], "at least two run ids"),
        ([], "at least two run ids"),
        (["runs=[a,a]"], "must not repeat"),
        (["runs=[a,b]", "from_experiment=e"], "not both"),
        (["from_experiment=e", "max_runs=1"], "max_runs must be an integer >= 2"),
        (["runs=[a,b]", "ci_level=1.0"], "ci_level"),
    ],
)
def test_compare_config_rules_refuse_bad_values(overrides, message):
    cfg = compose_config("compare", overrides)
    with pytest.raises(ConfigError, match=message):
        check_config(cfg, COMPARE_RULES)


def test_compare_config_accepts_runs_or_an_experiment():
    check_config(compose_config("compare", ["runs=[a,b]"]), COMPARE_RULES)
    check_config(compose_config("compare", ["from_experiment=churn-sim"]), COMPARE_RULES)
