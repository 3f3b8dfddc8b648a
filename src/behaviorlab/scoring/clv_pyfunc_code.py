"""The file MLflow runs to build the CLV pyfunc (models from code): no pickled object.

``log_clv_model`` passes this file's path as ``python_model``; MLflow copies it into the
model and executes it at load time, with the shipped ``behaviorlab`` code on the path.
Nothing imports it.
"""

import mlflow.models

from behaviorlab.scoring.clv_pyfunc import ClvModel

mlflow.models.set_model(ClvModel())
