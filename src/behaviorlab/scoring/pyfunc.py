"""The MLflow pyfunc that deployment loads: feature columns in, probability/tier/reasons out.

MLflow builds it from code (``pyfunc_code.py``), not from a pickled Python object: the
fitted model and its spec travel as artifacts and ``load_context`` reads them.
"""

import json
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from behaviorlab.errors import BehaviorlabError
from behaviorlab.scoring.predict import score_with_spec

CODE_FILE = Path(__file__).with_name("pyfunc_code.py")
MODEL_FILE = "model.pkl"
SPEC_FILE = "spec.json"
DEFAULT_UNSEEN = "error"


def unseen_policy(spec: Mapping[str, Any]) -> str:
    """What an unseen category level does for this model (specs before the key: an error)."""
    return spec["scoring"].get("unseen_categories") or DEFAULT_UNSEEN


def read_fitted_model(model_path: str | Path, spec_path: str | Path) -> tuple[Any, dict]:
    """The fitted model and its spec, the model set to handle unseen levels as the spec says."""
    spec = json.loads(Path(spec_path).read_text())
    with open(model_path, "rb") as handle:
        model = pickle.load(handle)
    model.unseen_categories = unseen_policy(spec)
    return model, spec


def json_safe(scored: pd.DataFrame) -> pd.DataFrame:
    """Missing values as None, so a JSON answer holds ``null`` where it would hold ``NaN``.

    MLflow's server writes NaN (not JSON) for a missing float and cannot encode pandas' NA;
    only columns with a missing value change, to object columns.
    """
    safe = scored.copy()
    for name in safe.columns[safe.isna().any()]:
        column = safe[name].astype("object")
        safe[name] = column.where(column.notna(), None)
    return safe


def score_for_serving(model, spec: Mapping[str, Any], features: pd.DataFrame) -> pd.DataFrame:
    """What the pyfunc answers for feature rows, before the JSON-safe conversion."""
    return score_with_spec(model, features, spec)


class BehaviorModel(mlflow.pyfunc.PythonModel):
    """Wraps a calibrated model and the spec it was trained with.

    ``predict`` returns probabilities, never class labels; the spec (task, resolved
    features, tiers, reasons, unseen-category policy) travels in the artifacts so scoring
    rebuilds the same features.
    """

    def load_context(self, context) -> None:
        """Read the fitted model and its spec from the logged artifacts."""
        self.model, self.spec = read_fitted_model(
            context.artifacts["model"], context.artifacts["spec"]
        )

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """Score feature rows: calibrated probability, tier and the top reasons.

        Categoricals may arrive as strings (JSON, signature): the model restores its levels.
        A missing column or an unseen category is one line naming it, raised as an
        MlflowException so the server answers 400 with that line.
        """
        try:
            scored = score_for_serving(self.model, self.spec, model_input)
        except BehaviorlabError as error:
            raise MlflowException(str(error), error_code=INVALID_PARAMETER_VALUE) from None
        return json_safe(scored)
