"""The MLflow pyfunc that deployment loads: feature columns in, probability/tier/reasons out."""

import json
import pickle
from pathlib import Path

import mlflow.pyfunc
import pandas as pd

from behaviorlab.scoring.predict import score_features

MODEL_FILE = "model.pkl"
SPEC_FILE = "spec.json"


class BehaviorModel(mlflow.pyfunc.PythonModel):
    """Wraps a calibrated model and the spec it was trained with.

    ``predict`` returns probabilities, never class labels; the spec (task, resolved
    features, tiers, reasons) travels in the artifacts so scoring rebuilds the same features.
    """

    def load_context(self, context) -> None:
        """Read the fitted model and its spec from the logged artifacts."""
        with open(context.artifacts["model"], "rb") as handle:
            self.model = pickle.load(handle)
        self.spec = json.loads(Path(context.artifacts["spec"]).read_text())

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """Score feature rows: calibrated probability, tier and the top reasons.

        Categoricals may arrive as strings (JSON, signature): the model restores its levels.
        """
        scoring = self.spec["scoring"]
        return score_features(
            self.model,
            model_input,
            tiers=scoring["tiers"],
            reason_tiers=scoring["reason_tiers"],
            n_reasons=scoring["n_reasons"],
        )
