"""Logging a fitted CLV model as a pyfunc and loading it back for batch scoring."""

import importlib.metadata as metadata
import json
import tempfile
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import infer_signature

import behaviorlab
from behaviorlab.errors import ConfigError
from behaviorlab.scoring.clv_pyfunc import CODE_FILE, FITTED_FILE
from behaviorlab.scoring.customer_value import SUMMARY_COLUMNS, FittedClv

MODEL_NAME_IN_RUN = "model"
# What the CLV pyfunc imports at load and predict time: MLflow, the models' SciPy
# optimisers and special functions, the frames, and Ibis (the purchase summaries).
SERVING_PACKAGES = ("mlflow", "scipy", "pandas", "numpy", "pyarrow", "ibis-framework")
EXAMPLE_ROWS = 5


def serving_requirements() -> list[str]:
    """Exact pins of what the CLV pyfunc imports, as installed now (``behaviorlab`` ships
    as code)."""
    return [f"{name}=={metadata.version(name)}" for name in SERVING_PACKAGES]


def log_clv_model(fitted: FittedClv, summary: pd.DataFrame) -> str:
    """Log the fitted model on the active run as a pyfunc from code; return its model URI.

    The parameters and settings travel as a JSON artifact; the signature and example are
    the first summary rows (as floats, as a JSON client sends them) and their outputs.
    """
    example = summary[SUMMARY_COLUMNS].head(EXAMPLE_ROWS).astype("float64")
    example = example.reset_index(drop=True)
    with tempfile.TemporaryDirectory() as folder:
        stored = Path(folder) / FITTED_FILE
        stored.write_text(json.dumps(fitted.to_dict(), indent=2))
        info = mlflow.pyfunc.log_model(
            name=MODEL_NAME_IN_RUN,
            python_model=str(CODE_FILE),
            artifacts={"clv": str(stored)},
            code_paths=[str(Path(behaviorlab.__file__).parent)],
            signature=infer_signature(example, fitted.predict(example)),
            input_example=example,
            pip_requirements=serving_requirements(),
        )
    return info.model_uri


def load_clv_model(model_uri: str) -> FittedClv:
    """The fitted CLV model behind a registered pyfunc, for in-process batch scoring."""
    python_model = mlflow.pyfunc.load_model(model_uri).unwrap_python_model()
    fitted = getattr(python_model, "fitted", None)
    if fitted is None:
        raise ConfigError(
            f"clv_model: {model_uri} is not a CLV model (behaviorlab-clv registers those)"
        )
    return fitted
