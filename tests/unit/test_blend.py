"""The blend weighs its parts on validation rows, predicts by its formula and explains with
LightGBM's own SHAP values."""

import json
import pickle

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.special import expit, logit
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from behaviorlab.errors import ConfigError
from behaviorlab.modeling.blend import WEIGHTS, BlendEstimator
from behaviorlab.modeling.calibration import fit_calibrator
from behaviorlab.modeling.estimators import LightGBMEstimator
from behaviorlab.modeling.model import CalibratedModel, freeze_categories
from behaviorlab.scoring.pyfunc import BehaviorModel, read_fitted_model
from behaviorlab.tracking.models import as_signature_frame
from tests.unit.test_modeling_data import CATEGORICAL, FEATURES, make_table
from tests.unit.test_modeling_model import LIGHTGBM_PARAMS

BOOSTING = {"n_estimators": 200, "seed": 1}
LINEAR = {"params": {"C": 1.0, "l1_ratio": 0.0}, "seed": 0}
NO_SPLITS = {"min_child_samples": 100_000}  # more rows per leaf than the table has
ALL_ZERO = {"C": 1e-4, "l1_ratio": 1.0}  # an L1 penalty this strong zeroes every coefficient
SCORING = {
    "tiers": {"mode": "thresholds", "high": 0.6, "medium": 0.4},
    "reason_tiers": ["high", "medium"],
    "n_reasons": 2,
}


@pytest.fixture(scope="module")
def tables():
    """Train, validation, calibration and test tables of the same synthetic problem."""
    return [make_table(1500, 1, seed=seed) for seed in (0, 1, 2, 3)]


def fit_blend(tables, params=LIGHTGBM_PARAMS, linear=LINEAR) -> BlendEstimator:
    train, valid = tables[0], tables[1]
    return BlendEstimator(BOOSTING, linear, params=params).fit(
        train[FEATURES], train["label"].to_numpy(), valid[FEATURES], valid["label"].to_numpy()
    )


@pytest.fixture(scope="module")
def blend(tables):
    return fit_blend(tables)


def mean_log_loss(y: np.ndarray, z: np.ndarray) -> float:
    """Log loss of logits, written out."""
    return float(np.mean(np.logaddexp(0, z) - y * z))


@pytest.mark.parametrize(
    ("params", "linear", "useful"),
    [
        (LIGHTGBM_PARAMS, {**LINEAR, "params": ALL_ZERO}, "lightgbm"),
        (NO_SPLITS, LINEAR, "logistic"),
    ],
)
def test_weight_goes_to_the_part_that_predicts(tables, params, linear, useful):
    blend = fit_blend(tables, params, linear)
    useless = {"lightgbm": "logistic", "logistic": "lightgbm"}[useful]
    metrics = blend.validation_metrics()
    assert metrics[f"val_roc_auc_{useless}"] == pytest.approx(0.5)
    assert metrics[f"val_roc_auc_{useful}"] > 0.7
    lightgbm_weight = blend.run_params()["blend.weight"]
    assert lightgbm_weight >= 0.9 if useful == "lightgbm" else lightgbm_weight <= 0.1


def test_blend_is_the_weighted_average_of_the_parts_recalibrated_logits(tables, blend):
    train, valid, test = tables[0], tables[1], tables[3]
    y = valid["label"].to_numpy()
    parts = (blend.boosting_, blend.linear_)
    weighed = np.column_stack(
        [
            blend.cross_fitted_boosting_logits(
                train[FEATURES], train["label"].to_numpy(), valid[FEATURES], y
            ),
            logit(blend.linear_.predict_raw(valid[FEATURES])),
        ]
    )
    platt = [sm.Logit(y, sm.add_constant(z)).fit(disp=0).params for z in weighed.T]
    valid_z = np.column_stack([b + a * z for z, (b, a) in zip(weighed.T, platt, strict=True)])
    test_z = np.column_stack(
        [
            b + a * logit(part.predict_raw(test[FEATURES]))
            for part, (b, a) in zip(parts, platt, strict=True)
        ]
    )
    losses = [mean_log_loss(y, w * valid_z[:, 0] + (1 - w) * valid_z[:, 1]) for w in WEIGHTS]
    weight = WEIGHTS[int(np.argmin(losses))]
    assert blend.weight_ == weight
    assert 0 < weight < 1  # both parts carry signal here, so the formula mixes them
    expected = expit(weight * test_z[:, 0] + (1 - weight) * test_z[:, 1])
    np.testing.assert_allclose(blend.predict_raw(test[FEATURES]), expected, atol=1e-5)
    metrics = blend.validation_metrics()
    assert metrics["val_log_loss_blend"] == pytest.approx(min(losses), abs=1e-5)
    blended = weight * valid_z[:, 0] + (1 - weight) * valid_z[:, 1]
    assert metrics["val_roc_auc_blend"] == pytest.approx(roc_auc_score(y, blended))


def test_lightgbm_is_weighed_on_halves_it_did_not_stop_on(tables, blend):
    train, valid = tables[0], tables[1]
    X, y = train[FEATURES], train["label"].to_numpy()
    y_valid = valid["label"].to_numpy()
    crossed = blend.cross_fitted_boosting_logits(X, y, valid[FEATURES], y_valid)
    halves = list(StratifiedKFold(2, shuffle=True, random_state=BOOSTING["seed"]).split(X, y_valid))
    assert sorted(np.concatenate([held for _, held in halves])) == list(range(len(valid)))
    for stop, held in halves:
        half = LightGBMEstimator(params=LIGHTGBM_PARAMS, **BOOSTING).fit(
            X, y, valid[FEATURES].iloc[stop], y_valid[stop]
        )
        np.testing.assert_allclose(
            crossed[held], logit(half.predict_raw(valid[FEATURES].iloc[held]))
        )
    stopped_here = logit(blend.boosting_.predict_raw(valid[FEATURES]))
    assert not np.allclose(crossed, stopped_here)


def test_one_positive_validation_row_weighs_with_the_stopped_on_logits(tables):
    train, valid = tables[0], tables[1]
    one_positive = pd.concat(
        [valid[valid["label"] == 0].head(300), valid[valid["label"] == 1].head(1)]
    )
    blend = fit_blend([train, one_positive])
    assert blend.run_params()["blend.cross_fitted"] is False
    assert fit_blend(tables).run_params()["blend.cross_fitted"] is True


def test_served_blend_scores_with_lightgbm_reasons(tables, blend, tmp_path):
    train, calibrate, test = tables[0], tables[2], tables[3]
    calibrator = fit_calibrator(
        blend.predict_raw(calibrate[FEATURES]), calibrate["label"], {"method": "sigmoid"}
    )
    model = CalibratedModel(
        blend, calibrator, FEATURES, freeze_categories(train, CATEGORICAL), "blend"
    )
    model_path, spec_path = tmp_path / "model.pkl", tmp_path / "spec.json"
    model_path.write_bytes(pickle.dumps(model))
    spec_path.write_text(json.dumps({"scoring": SCORING}))
    served = BehaviorModel()
    served.model, served.spec = read_fitted_model(model_path, spec_path)
    rows = as_signature_frame(test[FEATURES].head(200))

    scored = served.predict(None, rows)

    np.testing.assert_allclose(scored["probability"], model.predict_proba(test.head(200)))
    assert set(scored["tier"]) == {"high", "medium", "low"}
    shap = blend.boosting_.booster_.predict(
        model.prepare(test.head(200)),
        num_iteration=blend.boosting_.best_iteration_,
        pred_contrib=True,
    )[:, :-1]
    explained = scored["reason_1"].notna().to_numpy()
    assert explained.sum() > 20
    np.testing.assert_allclose(
        scored.loc[explained, "reason_1_contribution"].to_numpy(dtype=float),
        shap[explained].max(axis=1),
    )
    assert (
        scored.loc[explained, "reason_1_feature"].tolist()
        == np.asarray(FEATURES)[shap[explained].argmax(axis=1)].tolist()
    )


def test_blend_refuses_to_fit_without_validation_rows_or_with_a_bad_grid(tables):
    train = tables[0]
    with pytest.raises(ConfigError, match="validation rows"):
        BlendEstimator(BOOSTING, LINEAR).fit(train[FEATURES], train["label"].to_numpy())
    with pytest.raises(ConfigError, match=r"model.estimator.weights .*\[0.5, 1.5\]"):
        BlendEstimator(BOOSTING, LINEAR, weights=[0.5, 1.5]).fit(
            train[FEATURES], train["label"].to_numpy(), train[FEATURES], train["label"]
        )
