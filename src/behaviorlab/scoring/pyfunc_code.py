"""The file MLflow runs to build the pyfunc (models from code): no pickled Python object.

``log_behavior_model`` passes this file's path as ``python_model``; MLflow copies it into
the model and executes it at load time, with the shipped ``behaviorlab`` code on the path.
Nothing imports it.
"""

import mlflow.models

from behaviorlab.scoring.pyfunc import BehaviorModel

mlflow.models.set_model(BehaviorModel())
