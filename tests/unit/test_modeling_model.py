"""Estimators learn a signal; contributions are exact; the calibrated model guards its input."""

import copy
import pickle
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from behaviorlab.errors import DataValidationError
from behaviorlab.modeling.calibration import fit_calibrator
from behaviorlab.modeling.estimators import LightGBMEstimator, LogisticEstimator
from behaviorlab.modeling.model import CalibratedModel, freeze_categories
from tests.unit.test_modeling_data import CATEGORICAL, FEATURES, make_table

LIGHTGBM_PARAMS = {"num_leaves": 15, "learning_rate": 0.1, "min_child_samples": 20}


def fitted(estimator, n_customers=1500):
    """An estimator fitted on one synthetic table and calibrated; the model and a test table."""
    train, valid, test = (make_table(n_customers, 1, seed=s) for s in (0, 1, 2))
    categories = freeze_categories(train, CATEGORICAL)
    estimator.fit(
        train[FEATURES], train["label"].to_numpy(), valid[FEATURES], valid["label"].to_numpy()
    )
    calibrator = fit_calibrator(
        estimator.predict_raw(valid[FEATURES]), valid["label"], {"method": "sigmoid"}
    )
    model = CalibratedModel(estimator, calibrator, FEATURES, categories, "test")
    return model, test


@pytest.fixture(scope="module")
def lightgbm_model():
    return fitted(LightGBMEstimator(LIGHTGBM_PARAMS, n_estimators=200, seed=1))


@pytest.fixture(scope="module")
def logistic_model():
    return fitted(LogisticEstimator({"C": 1.0, "l1_ratio": 0.0}, seed=0))


@pytest.mark.parametrize("name", ["lightgbm_model", "logistic_model"])
def test_estimators_learn_the_signal(request, name):
    model, test = request.getfixturevalue(name)
    p = model.predict_proba(test)
    assert roc_auc_score(test["label"], p) > 0.7
    assert np.all((p >= 0) & (p <= 1))
    assert np.all((model.predict_raw(test) >= 0) & (model.predict_raw(test) <= 1))


def test_lightgbm_contributions_sum_to_raw_log_odds(lightgbm_model):
    model, test = lightgbm_model
    contributions = model.contributions(test)
    assert list(contributions.columns) == FEATURES
    raw = model.predict_raw(test)
    log_odds = np.log(raw / (1 - raw))
    np.testing.assert_allclose(
        contributions.sum(axis=1) + model.expected_value, log_odds, atol=1e-6
    )


def test_logistic_contributions_sum_to_decision_minus_mean(logistic_model):
    model, test = logistic_model
    contributions = model.contributions(test)
    assert list(contributions.columns) == FEATURES
    decision = model.estimator.pipeline_.decision_function(model.prepare(test))
    np.testing.assert_allclose(
        contributions.sum(axis=1), decision - model.expected_value, atol=1e-8
    )
    days = contributions["days_since_last_event"]
    assert days.corr(test["days_since_last_event"], method="spearman") > 0.99


def test_missing_columns_are_named(lightgbm_model):
    model, test = lightgbm_model
    with pytest.raises(DataValidationError, match=r"plan.*noise|noise.*plan"):
        model.predict_proba(test.drop(columns=["plan", "noise"]))


def test_column_order_and_strings_are_handled(lightgbm_model):
    model, test = lightgbm_model
    rows = test.head(20)
    expected = model.predict_proba(rows)
    shuffled = rows[FEATURES[::-1]].copy()
    shuffled["plan"] = shuffled["plan"].astype("str")
    np.testing.assert_allclose(model.predict_proba(shuffled), expected)


def test_unseen_levels_are_named_or_scored_as_missing_when_asked(lightgbm_model):
    model, test = lightgbm_model
    rows = test.head(20)
    unseen = rows.copy()
    unseen["plan"] = ["platinum", "gold"] * 10
    missing = rows.copy()
    missing["plan"] = pd.Categorical([None] * 20, categories=["basic", "pro", "team"])
    message = (
        "column 'plan' has unseen values 'gold', 'platinum' (known levels: 'basic', 'pro', 'team')"
    )
    with pytest.raises(DataValidationError, match=re.escape(message)):
        model.predict_proba(unseen)
    lenient = copy.copy(model)
    lenient.unseen_categories = "missing"
    np.testing.assert_allclose(lenient.predict_proba(unseen), model.predict_proba(missing))
    assert model.unseen_categories == "error"


@pytest.mark.parametrize("name", ["lightgbm_model", "logistic_model"])
def test_model_survives_pickling(request, name):
    model, test = request.getfixturevalue(name)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(restored.predict_proba(test), model.predict_proba(test))
    assert restored.categories_ == {"plan": ["basic", "pro", "team"]}
    assert restored.feature_names == FEATURES


def test_monotone_lightgbm_never_lowers_churn_when_inactivity_grows():
    estimator = LightGBMEstimator(
        LIGHTGBM_PARAMS,
        n_estimators=150,
        monotone_constraints={"days_since_last_event": 1},
        seed=3,
    )
    model, test = fitted(estimator, n_customers=1000)
    rows = test.head(200).reset_index(drop=True)
    grid = np.linspace(0, 200, 21)
    scores = np.column_stack(
        [model.predict_raw(rows.assign(days_since_last_event=days)) for days in grid]
    )
    assert np.all(np.diff(scores, axis=1) >= -1e-12)
    assert np.all(scores[:, -1] > scores[:, 0])


def test_balanced_class_weight_raises_scores_of_a_rare_class():
    table = make_table(1500, 1, seed=4)
    rare = table[(table["label"] == 0) | (np.arange(len(table)) % 5 == 0)]
    y = rare["label"].to_numpy()
    plain = LogisticEstimator({"C": 1.0}, seed=0).fit(rare[FEATURES], y)
    balanced = LogisticEstimator({"C": 1.0}, class_weight="balanced", seed=0).fit(rare[FEATURES], y)
    plain_mean = plain.predict_raw(rare[FEATURES]).mean()
    assert plain_mean == pytest.approx(y.mean(), abs=0.02)
    assert balanced.predict_raw(rare[FEATURES]).mean() > plain_mean + 0.15


def test_logistic_handles_numeric_category_levels_with_missing_values():
    table = make_table(600, 1, seed=6)
    table["plan"] = pd.Categorical(table["plan"].cat.codes.where(table["plan"].notna()))
    estimator = LogisticEstimator({"C": 1.0}, seed=0).fit(
        table[FEATURES], table["label"].to_numpy()
    )
    contributions = estimator.contributions(table[FEATURES])
    assert contributions["plan"].nunique() == 4  # three levels and missing
    assert roc_auc_score(table["label"], estimator.predict_raw(table[FEATURES])) > 0.7
