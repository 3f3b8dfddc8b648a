"""The fitted, calibrated model that the pyfunc wraps and batch scoring calls."""

from collections.abc import Sequence

import numpy as np
import pandas as pd

from behaviorlab.errors import ConfigError, DataValidationError


def freeze_categories(table: pd.DataFrame, categorical: Sequence[str]) -> dict[str, list]:
    """The category levels seen in training, so scoring maps new data onto the same codes."""
    return {name: list(table[name].cat.categories) for name in categorical}


UNSEEN_POLICIES = ("error", "missing")
SHOWN_VALUES = 10


def unseen_categories(X: pd.DataFrame, categories: dict[str, list]) -> dict[str, list]:
    """Per categorical column, the non-missing values that are not training levels."""
    unseen = {}
    for name, levels in categories.items():
        values = X[name].astype("object")
        new = values[values.notna() & ~values.isin(levels)].unique()
        if len(new):
            unseen[name] = sorted(new, key=str)
    return unseen


def describe_unseen(unseen: dict[str, list], categories: dict[str, list]) -> str:
    """One line naming each column, its unseen values and the levels the model knows."""
    parts = []
    for name, values in unseen.items():
        shown = ", ".join(map(repr, values[:SHOWN_VALUES]))
        more = f" and {len(values) - SHOWN_VALUES} more" if len(values) > SHOWN_VALUES else ""
        known = ", ".join(map(repr, categories[name]))
        parts.append(f"column {name!r} has unseen values {shown}{more} (known levels: {known})")
    return (
        "categories unseen in training: "
        + "; ".join(parts)
        + "; train with scoring.unseen_categories=missing to score them as missing"
    )


def prepare_features(
    X: pd.DataFrame,
    feature_names: Sequence[str],
    categories: dict[str, list],
    unseen: str = "error",
) -> pd.DataFrame:
    """Columns in training order with training dtypes.

    A category level the model never saw is an error naming it (``unseen="error"``), since
    silently scoring it as missing changes the probability; ``unseen="missing"`` accepts it
    as missing.
    """
    if unseen not in UNSEEN_POLICIES:
        raise ConfigError(f"unseen_categories must be one of {UNSEEN_POLICIES}, got {unseen!r}")
    missing = [name for name in feature_names if name not in X.columns]
    if missing:
        raise DataValidationError(f"feature columns missing from the input: {missing}")
    found = unseen_categories(X, categories) if unseen == "error" else {}
    if found:
        raise DataValidationError(describe_unseen(found, categories))
    prepared = {}
    for name in feature_names:
        column = X[name]
        if name in categories:
            values = column.astype("object")
            known = values.where(values.isin(categories[name]))
            prepared[name] = pd.Categorical(known, categories=categories[name])
        else:
            prepared[name] = pd.to_numeric(column, errors="raise").astype("float64")
    return pd.DataFrame(prepared, index=X.index)


class CalibratedModel:
    """A fitted estimator, its calibrator and the frozen input schema.

    ``predict_proba`` is calibrated; ``contributions`` are on the uncalibrated log-odds
    scale (exact SHAP), summing with ``expected_value`` to the raw log-odds (a blend's are
    its LightGBM part's, see ``blend``).
    ``unseen_categories`` says what a category level unseen in training does when scoring:
    ``error`` (the default) or ``missing``; the model spec sets it when a model is loaded.
    """

    def __init__(
        self,
        estimator,
        calibrator,
        feature_names: Sequence[str],
        categories: dict[str, list],
        kind: str,
        unseen_categories: str = "error",
    ):
        self.estimator = estimator
        self.calibrator = calibrator
        self.feature_names = list(feature_names)
        self.categories_ = dict(categories)
        self.categorical_features = list(categories)
        self.kind = kind
        self.unseen_categories = unseen_categories

    @property
    def expected_value(self) -> float:
        """Log-odds baseline the contributions are measured from."""
        return self.estimator.expected_value_

    def prepare(self, X: pd.DataFrame) -> pd.DataFrame:
        """Enforce the training column order and dtypes."""
        return prepare_features(X, self.feature_names, self.categories_, self.unseen_categories)

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        """Uncalibrated probability of the positive class."""
        return self.estimator.predict_raw(self.prepare(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of the positive class, in [0, 1]."""
        return np.clip(self.calibrator.transform(self.predict_raw(X)), 0.0, 1.0)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Signed log-odds contribution of every feature for every row."""
        return self.estimator.contributions(self.prepare(X))
