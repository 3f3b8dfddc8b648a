"""The MLflow pyfunc of a fitted CLV model: purchase summary columns in (``frequency``,
``recency``, ``T``, ``monetary_value``), ``expected_purchases``, ``probability_alive``,
``expected_order_value`` and ``clv`` out.

MLflow builds it from code (``clv_pyfunc_code.py``), not from a pickled object: the fitted
parameters and settings travel as one JSON artifact that ``load_context`` reads.
"""

import json
from pathlib import Path

import mlflow.pyfunc
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from behaviorlab.errors import BehaviorlabError
from behaviorlab.scoring.customer_value import FittedClv

CODE_FILE = Path(__file__).with_name("clv_pyfunc_code.py")
FITTED_FILE = "clv.json"


def read_fitted_clv(path: str | Path) -> FittedClv:
    """The fitted CLV model stored as JSON."""
    return FittedClv.from_dict(json.loads(Path(path).read_text()))


class ClvModel(mlflow.pyfunc.PythonModel):
    """Wraps a fitted CLV model; ``fitted`` is there for in-process batch work."""

    def load_context(self, context) -> None:
        """Read the fitted parameters and settings from the logged artifact."""
        self.fitted = read_fitted_clv(context.artifacts["clv"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """Value summary rows; a missing column is one line, answered 400 by a server."""
        try:
            return self.fitted.predict(model_input).reset_index(drop=True)
        except BehaviorlabError as error:
            raise MlflowException(str(error), error_code=INVALID_PARAMETER_VALUE) from None
