"""The two model families behind ``model=lightgbm`` and ``model=logistic``.

Both share one small interface (``model=blend`` in ``blend.py`` too) so tuning,
calibration, explanations and logging never ask which is which:
``fit(X, y, X_valid, y_valid, on_iteration)``, ``predict_raw(X)`` (probability),
``contributions(X)`` (signed log-odds per feature), ``expected_value_``,
``importance_table()``, and ``run_params()`` / ``validation_metrics()`` for what a fit chose
on validation rows beyond the tuned hyperparameters. ``params`` holds the tuned
hyperparameters of one trial.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from behaviorlab.errors import ConfigError

MISSING_LEVEL = "__missing__"
ReportFn = Callable[[int, float], None]


def positive_weight(y: np.ndarray, class_weight: str | None) -> float:
    """Weight of a positive row relative to a negative one for the configured balancing."""
    if class_weight is None:
        return 1.0
    if class_weight != "balanced":
        raise ConfigError(f"class_weight must be 'balanced' or null, got {class_weight!r}")
    positives = max(int(np.sum(y)), 1)
    return (len(y) - positives) / positives


class ReportValidAUC:
    """LightGBM callback passing validation AUC to a reporter every ``every`` iterations."""

    def __init__(self, report: ReportFn, every: int):
        self.report = report
        self.every = every

    def __call__(self, env: lgb.callback.CallbackEnv) -> None:
        """Report the AUC of the first validation set when the step is due."""
        if (env.iteration + 1) % self.every:
            return
        auc = next(score for _, metric, score, *_ in env.evaluation_result_list if metric == "auc")
        self.report(env.iteration + 1, auc)


class LightGBMEstimator:
    """Gradient boosting with native categoricals, early stopping and optional monotonicity."""

    importance_name = "gain_importance"

    def __init__(
        self,
        params: Mapping[str, Any] | None = None,
        base_params: Mapping[str, Any] | None = None,
        n_estimators: int = 1000,
        early_stopping_rounds: int = 50,
        class_weight: str | None = None,
        monotone_constraints: Mapping[str, int] | None = None,
        report_every: int = 10,
        n_jobs: int = 1,
        *,
        seed: int,
    ):
        self.params = params
        self.base_params = base_params
        self.n_estimators = n_estimators
        self.early_stopping_rounds = early_stopping_rounds
        self.class_weight = class_weight
        self.monotone_constraints = monotone_constraints
        self.report_every = report_every
        self.n_jobs = n_jobs
        self.seed = seed

    def booster_params(self, feature_names: Sequence[str], y: np.ndarray) -> dict[str, Any]:
        """Fixed, tuned and derived LightGBM parameters for one fit."""
        constraints = dict(self.monotone_constraints or {})
        unknown = sorted(set(constraints) - set(feature_names))
        if unknown:
            raise ConfigError(f"monotone_constraints name unknown features: {unknown}")
        params = {
            "objective": "binary",
            "metric": "auc",
            "verbosity": -1,
            "num_threads": self.n_jobs,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            **(self.base_params or {}),
            **(self.params or {}),
        }
        if self.class_weight is not None:
            params["scale_pos_weight"] = positive_weight(y, self.class_weight)
        if constraints:
            params["monotone_constraints"] = [constraints.get(name, 0) for name in feature_names]
        return params

    def fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        X_valid: pd.DataFrame | None = None,
        y_valid: np.ndarray | None = None,
        on_iteration: ReportFn | None = None,
    ) -> "LightGBMEstimator":
        """Boost up to ``n_estimators`` rounds, stopping early on validation AUC."""
        train_set = lgb.Dataset(X, label=y, categorical_feature="auto", free_raw_data=False)
        callbacks: list[Any] = []
        valid_sets = []
        if X_valid is not None:
            valid_sets = [lgb.Dataset(X_valid, label=y_valid, reference=train_set)]
            callbacks.append(lgb.early_stopping(self.early_stopping_rounds, verbose=False))
            if on_iteration is not None:
                callbacks.append(ReportValidAUC(on_iteration, self.report_every))
        self.booster_ = lgb.train(
            self.booster_params(list(X.columns), y),
            train_set,
            num_boost_round=self.n_estimators,
            valid_sets=valid_sets,
            valid_names=["valid"] * len(valid_sets),
            callbacks=callbacks,
        )
        self.best_iteration_ = self.booster_.best_iteration or self.booster_.current_iteration()
        self.expected_value_ = float(self.raw_contributions(X.head(1))[0, -1])
        return self

    def raw_contributions(self, X: pd.DataFrame) -> np.ndarray:
        """TreeSHAP values per feature plus the expected value in the last column."""
        return self.booster_.predict(X, num_iteration=self.best_iteration_, pred_contrib=True)

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        """Uncalibrated probability of the positive class."""
        return self.booster_.predict(X, num_iteration=self.best_iteration_)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Exact signed log-odds contributions; they sum to the raw score minus expected_value_."""
        values = self.raw_contributions(X)[:, :-1]
        return pd.DataFrame(values, columns=list(X.columns), index=X.index)

    def importance_table(self) -> pd.DataFrame:
        """Total gain and split count per feature, largest gain first."""
        table = pd.DataFrame(
            {
                "feature": self.booster_.feature_name(),
                "gain": self.booster_.feature_importance("gain", self.best_iteration_),
                "split": self.booster_.feature_importance("split", self.best_iteration_),
            }
        )
        return table.sort_values("gain", ascending=False, ignore_index=True)

    def run_params(self) -> dict[str, Any]:
        """Nothing chosen beyond the tuned hyperparameters (early stopping is in the model)."""
        return {}

    def validation_metrics(self) -> dict[str, float]:
        """No figures beyond the pipeline's own validation AUC."""
        return {}


def categories_as_objects(frame: pd.DataFrame) -> np.ndarray:
    """Categorical columns as strings with an explicit level for missing values.

    Strings throughout, because the encoder refuses a mix of numeric levels and the marker.
    """
    return frame.astype("object").where(frame.notna(), MISSING_LEVEL).astype(str).to_numpy()


def signed_log1p(values: np.ndarray) -> np.ndarray:
    """Compress heavy tails (counts, amounts) while keeping order and sign."""
    return np.sign(values) * np.log1p(np.abs(values))


class LogisticEstimator:
    """Impute, scale and one-hot encode inside the pipeline, then a penalised logistic fit.

    ``params`` takes LogisticRegression arguments (``C``, ``l1_ratio``: 0 for L2, 1 for L1).
    Numerics pass through a signed log1p when ``log1p`` is true, then median imputation
    with missing indicators and standard scaling; everything is fitted on training rows only.
    """

    importance_name = "coefficient_importance"

    def __init__(
        self,
        params: Mapping[str, Any] | None = None,
        class_weight: str | None = None,
        log1p: bool = True,
        solver: str = "liblinear",
        max_iter: int = 1000,
        *,
        seed: int,
    ):
        self.params = params
        self.class_weight = class_weight
        self.log1p = log1p
        self.solver = solver
        self.max_iter = max_iter
        self.seed = seed

    def build_pipeline(self, numeric: list[str], categorical: list[str]) -> Pipeline:
        """The preprocessing + LogisticRegression pipeline for these columns."""
        numeric_steps = [
            (
                "impute",
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            ),
            ("scale", StandardScaler()),
        ]
        if self.log1p:
            numeric_steps.insert(0, ("log1p", FunctionTransformer(signed_log1p)))
        blocks = []
        if numeric:
            blocks.append(("numeric", Pipeline(numeric_steps), numeric))
        if categorical:
            encode = Pipeline(
                [
                    ("objects", FunctionTransformer(categories_as_objects)),
                    ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                ]
            )
            blocks.append(("categorical", encode, categorical))
        model = LogisticRegression(
            **(self.params or {}),
            solver=self.solver,
            class_weight=self.class_weight,
            max_iter=self.max_iter,
            random_state=self.seed,
        )
        return Pipeline([("prepare", ColumnTransformer(blocks)), ("model", model)])

    def owners(self, numeric: list[str], categorical: list[str]) -> np.ndarray:
        """For each transformed column, the original feature it came from."""
        prepare = self.pipeline_.named_steps["prepare"]
        owners: list[str] = []
        if numeric:
            imputer = prepare.named_transformers_["numeric"].named_steps["impute"]
            indicated = imputer.indicator_.features_ if imputer.indicator_ is not None else []
            owners += numeric + [numeric[i] for i in indicated]
        if categorical:
            encoder = prepare.named_transformers_["categorical"].named_steps["onehot"]
            for name, levels in zip(categorical, encoder.categories_, strict=True):
                owners += [name] * len(levels)
        return np.asarray(owners, dtype=object)

    def fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        X_valid: pd.DataFrame | None = None,
        y_valid: np.ndarray | None = None,
        on_iteration: ReportFn | None = None,
    ) -> "LogisticEstimator":
        """Fit the pipeline on training rows; report validation AUC once when asked."""
        categorical = list(X.columns[X.dtypes == "category"])
        numeric = [name for name in X.columns if name not in categorical]
        self.pipeline_ = self.build_pipeline(numeric, categorical).fit(X, y)
        owners = self.owners(numeric, categorical)
        self.membership_ = owners[:, None] == np.asarray(X.columns, dtype=object)[None, :]
        self.transformed_mean_ = self.transform(X).mean(axis=0)
        model = self.pipeline_.named_steps["model"]
        self.expected_value_ = float(model.intercept_[0] + model.coef_[0] @ self.transformed_mean_)
        if X_valid is not None and on_iteration is not None:
            on_iteration(1, roc_auc_score(y_valid, self.predict_raw(X_valid)))
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Rows in the model's transformed (scaled, one-hot) space."""
        return np.asarray(self.pipeline_.named_steps["prepare"].transform(X), dtype=float)

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        """Uncalibrated probability of the positive class."""
        return self.pipeline_.predict_proba(X)[:, 1]

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Exact linear SHAP: coef * (x - training mean), summed back onto each feature."""
        coef = self.pipeline_.named_steps["model"].coef_[0]
        per_column = (self.transform(X) - self.transformed_mean_) * coef
        return pd.DataFrame(per_column @ self.membership_, columns=list(X.columns), index=X.index)

    def importance_table(self) -> pd.DataFrame:
        """Sum of |coefficient| over each feature's transformed columns, largest first."""
        coef = np.abs(self.pipeline_.named_steps["model"].coef_[0])
        features = self.pipeline_.feature_names_in_
        table = pd.DataFrame({"feature": features, "abs_coefficient": coef @ self.membership_})
        return table.sort_values("abs_coefficient", ascending=False, ignore_index=True)

    def run_params(self) -> dict[str, Any]:
        """Nothing chosen beyond the tuned hyperparameters."""
        return {}

    def validation_metrics(self) -> dict[str, float]:
        """No figures beyond the pipeline's own validation AUC."""
        return {}
