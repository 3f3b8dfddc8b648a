"""The served model: strict-JSON answers, one-line errors, signature types, unseen policy."""

import json
import pickle

import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from behaviorlab.modeling.estimators import LightGBMEstimator
from behaviorlab.scoring.pyfunc import BehaviorModel, read_fitted_model
from behaviorlab.tracking.models import as_signature_frame, model_signature
from tests.unit.test_modeling_data import FEATURES
from tests.unit.test_modeling_model import LIGHTGBM_PARAMS, fitted

SCORING = {
    "tiers": {"mode": "thresholds", "high": 0.6, "medium": 0.4},
    "reason_tiers": ["high", "medium"],
    "n_reasons": 2,
}


@pytest.fixture(scope="module")
def served():
    """A BehaviorModel over a small fitted LightGBM model, and feature rows to score."""
    model, test = fitted(LightGBMEstimator(LIGHTGBM_PARAMS, n_estimators=100, seed=1), 800)
    behavior = BehaviorModel()
    behavior.model, behavior.spec = model, {"scoring": SCORING}
    return behavior, as_signature_frame(test[FEATURES].head(60))


def test_answers_are_strict_json_with_nulls_where_empty(served):
    behavior, rows = served
    scored = behavior.predict(None, rows)
    assert (scored["tier"] == "low").any()
    assert scored["reason_1"].notna().any()
    text = json.dumps(scored.to_dict(orient="records"), allow_nan=False)
    empty = json.loads(text)[int(np.flatnonzero(scored["tier"] == "low")[0])]
    assert empty["reason_1"] is None
    assert empty["reason_1_contribution"] is None


def test_unseen_levels_and_missing_columns_are_one_line_errors(served):
    behavior, rows = served
    unseen = rows.head(3).assign(plan="platinum")
    with pytest.raises(MlflowException, match=r"column 'plan' has unseen values 'platinum'") as e:
        behavior.predict(None, unseen)
    assert "\n" not in e.value.message
    with pytest.raises(MlflowException, match=r"^feature columns missing .*\['noise'\]$"):
        behavior.predict(None, rows.drop(columns="noise"))


def test_spec_policy_scores_unseen_levels_as_missing(served, tmp_path):
    behavior, rows = served
    model_path, spec_path = tmp_path / "model.pkl", tmp_path / "spec.json"
    model_path.write_bytes(pickle.dumps(behavior.model))
    spec_path.write_text(json.dumps({"scoring": {**SCORING, "unseen_categories": "missing"}}))
    lenient, spec = read_fitted_model(model_path, spec_path)
    assert spec["scoring"]["unseen_categories"] == "missing"
    assert lenient.unseen_categories == "missing"
    unseen = rows.head(3).assign(plan="platinum")
    missing = rows.head(3).assign(plan=None)
    np.testing.assert_allclose(lenient.predict_proba(unseen), lenient.predict_proba(missing))
    spec_path.write_text(json.dumps({"scoring": SCORING}))
    assert read_fitted_model(model_path, spec_path)[0].unseen_categories == "error"


def test_signature_declares_integer_like_features_as_optional_doubles():
    features = pd.DataFrame(
        {
            "count": pd.Series([1, 2], dtype="int64"),
            "maybe": pd.Series([1, None], dtype="Int64"),
            "flag": [True, False],
            "plan": pd.Categorical(["pro", None]),
        }
    )
    plain = as_signature_frame(features)
    assert plain[["count", "maybe", "flag"]].dtypes.eq("float64").all()
    assert plain["plan"].tolist() == ["pro", None]
    inputs = model_signature(plain, pd.DataFrame({"probability": [0.1, 0.2]})).inputs
    assert {col.name: col.type.name for col in inputs} == {
        "count": "double",
        "maybe": "double",
        "flag": "double",
        "plan": "string",
    }
    assert not any(col.required for col in inputs)
