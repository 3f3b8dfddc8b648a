"""``model=blend``: LightGBM and logistic regression, their calibrated logits averaged.

Both parts learn from the training rows, LightGBM early-stopping on the validation rows.
On the validation rows each part's logit is recalibrated (Platt: a slope and an
intercept) so the two speak the same scale, and LightGBM's weight is the grid value with
the lowest validation log loss; the logistic part gets the rest. The pipeline then
calibrates the blend on its own calibration rows like any other model, so no test or
calibration row chooses anything here.

LightGBM's validation logits that weigh it are cross-fitted: each half of the validation
rows is predicted by a model early-stopped on the other half. Scored by the model that
stopped on them, LightGBM looks better there than it is (its stopping point is chosen at
a lucky peak of those rows' AUC) and took the whole weight; the logistic part never
looks at the validation rows, so it needs no such care. The served LightGBM part is still
the one early-stopped on all validation rows. Halves need two rows of each label: with
fewer (tiny inner folds), the stopped-on logits weigh it and ``blend.cross_fitted`` says so.

Contributions, reasons and importances come from the LightGBM part alone (its exact
TreeSHAP values on its own log-odds scale): the logistic part's are on another scale and
a mix of the two would explain neither.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from behaviorlab.errors import ConfigError, DataValidationError
from behaviorlab.modeling.calibration import logit
from behaviorlab.modeling.estimators import LightGBMEstimator, LogisticEstimator, ReportFn

WEIGHTS = tuple(round(0.1 * step, 1) for step in range(11))
PARTS = ("lightgbm", "logistic")


def check_weights(weights: Sequence[float]) -> list[float]:
    """The weight grid as floats; an empty grid or a weight outside [0, 1] is an error."""
    grid = [float(weight) for weight in weights]
    if not grid or any(not 0.0 <= weight <= 1.0 for weight in grid):
        raise ConfigError(f"model.estimator.weights must be values in [0, 1], got {grid}")
    return grid


def fit_platt(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of an unpenalised logistic regression of the labels on a logit
    (Newton steps, so it is the maximum likelihood fit, not an approximation of it).

    A part that gives every row the same logit ranks nothing: slope 0, the base rate.
    """
    if np.ptp(z) == 0:
        return 0.0, float(logit(np.array([np.mean(y)]))[0])
    platt = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-10).fit(z[:, None], y)
    return float(platt.coef_[0, 0]), float(platt.intercept_[0])


def blend_logits(logits: np.ndarray, weight: float) -> np.ndarray:
    """``weight`` times the LightGBM logit plus ``1 - weight`` times the logistic one."""
    return weight * logits[:, 0] + (1.0 - weight) * logits[:, 1]


def choose_weight(logits: np.ndarray, y: np.ndarray, weights: Sequence[float]) -> float:
    """The grid weight whose blend has the lowest log loss on these rows (first on a tie)."""
    losses = [log_loss(y, expit(blend_logits(logits, w)), labels=[0, 1]) for w in weights]
    return float(weights[int(np.argmin(losses))])


def validation_metrics(logits: np.ndarray, y: np.ndarray, weight: float) -> dict[str, float]:
    """ROC AUC and log loss of each recalibrated part and of the blend on validation rows."""
    named = {PARTS[0]: logits[:, 0], PARTS[1]: logits[:, 1], "blend": blend_logits(logits, weight)}
    metrics = {}
    for name, z in named.items():
        metrics[f"val_roc_auc_{name}"] = float(roc_auc_score(y, expit(z)))
        metrics[f"val_log_loss_{name}"] = float(log_loss(y, expit(z), labels=[0, 1]))
    return metrics


class BlendEstimator:
    """A weighted average of LightGBM's and logistic regression's calibrated logits.

    ``boosting`` and ``linear`` are the keyword arguments of the two parts
    (``LightGBMEstimator`` and ``LogisticEstimator``); ``params`` are the tuned LightGBM
    hyperparameters, while ``linear`` holds the logistic part's own fixed ``params``.
    ``weights`` is the grid LightGBM's weight is chosen from. Plain mappings rather than
    factories, so the pickled model needs nothing beyond the estimators to load.
    """

    importance_name = "gain_importance"

    def __init__(
        self,
        boosting: Mapping[str, Any],
        linear: Mapping[str, Any],
        weights: Sequence[float] = WEIGHTS,
        params: dict[str, Any] | None = None,
    ):
        self.boosting = boosting
        self.linear = linear
        self.weights = weights
        self.params = params

    def fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        X_valid: pd.DataFrame | None = None,
        y_valid: np.ndarray | None = None,
        on_iteration: ReportFn | None = None,
    ) -> "BlendEstimator":
        """Fit both parts on training rows, then recalibrate them and choose the weight on
        validation rows (LightGBM reports its validation AUC to the pruner as it boosts).
        The two cross-fitted halves cost two more LightGBM fits."""
        weights = check_weights(self.weights)
        if X_valid is None or y_valid is None:
            raise ConfigError("model=blend chooses its weight on validation rows; none given")
        y_valid = np.asarray(y_valid)
        counts = np.bincount(y_valid.astype(int), minlength=2)
        if counts.min() == 0:
            raise DataValidationError(
                "model=blend needs both label values among the validation rows to weigh its "
                "parts; column 'label' has one"
            )
        self.boosting_ = self.fit_boosting(X, y, X_valid, y_valid, on_iteration)
        self.linear_ = LogisticEstimator(**self.linear).fit(X, y)
        self.cross_fitted_ = bool(counts.min() >= 2)
        boosting_logits = (
            self.cross_fitted_boosting_logits(X, y, X_valid, y_valid)
            if self.cross_fitted_
            else logit(self.boosting_.predict_raw(X_valid))
        )
        raw = np.column_stack([boosting_logits, logit(self.linear_.predict_raw(X_valid))])
        self.platt_ = np.array([fit_platt(raw[:, part], y_valid) for part in range(len(PARTS))])
        calibrated = self.recalibrate(raw)
        self.weight_ = choose_weight(calibrated, y_valid, weights)
        self.validation_ = validation_metrics(calibrated, y_valid, self.weight_)
        self.expected_value_ = self.boosting_.expected_value_
        return self

    def fit_boosting(self, X, y, X_stop, y_stop, on_iteration: ReportFn | None = None):
        """The LightGBM part, early-stopped on ``X_stop``."""
        boosting = LightGBMEstimator(params=self.params, **self.boosting)
        return boosting.fit(X, y, X_stop, y_stop, on_iteration)

    def cross_fitted_boosting_logits(
        self, X: pd.DataFrame, y: np.ndarray, X_valid: pd.DataFrame, y_valid: np.ndarray
    ) -> np.ndarray:
        """LightGBM's validation log-odds, each half from a model early-stopped on the other
        (halves stratified by label, seeded like the part)."""
        halves = StratifiedKFold(2, shuffle=True, random_state=self.boosting.get("seed", 0))
        z = np.empty(len(y_valid))
        for stop, held in halves.split(X_valid, y_valid):
            half = self.fit_boosting(X, y, X_valid.iloc[stop], y_valid[stop])
            z[held] = logit(half.predict_raw(X_valid.iloc[held]))
        return z

    def raw_logits(self, X: pd.DataFrame) -> np.ndarray:
        """Each part's own log-odds: LightGBM in column 0, logistic in column 1."""
        return np.column_stack(
            [logit(self.boosting_.predict_raw(X)), logit(self.linear_.predict_raw(X))]
        )

    def recalibrate(self, raw: np.ndarray) -> np.ndarray:
        """Part logits through their validation Platt slope and intercept."""
        return raw * self.platt_[:, 0] + self.platt_[:, 1]

    def calibrated_logits(self, X: pd.DataFrame) -> np.ndarray:
        """Each part's recalibrated log-odds: LightGBM in column 0, logistic in column 1."""
        return self.recalibrate(self.raw_logits(X))

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        """The blend's probability, before the pipeline's calibration."""
        return expit(blend_logits(self.calibrated_logits(X), self.weight_))

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """LightGBM's exact TreeSHAP contributions (its log-odds, from ``expected_value_``)."""
        return self.boosting_.contributions(X)

    def importance_table(self) -> pd.DataFrame:
        """LightGBM's total gain and split count per feature."""
        return self.boosting_.importance_table()

    def run_params(self) -> dict[str, float]:
        """The weight chosen on validation rows and whether LightGBM's logits that chose it
        were cross-fitted, as params of the run."""
        return {"blend.weight": self.weight_, "blend.cross_fitted": self.cross_fitted_}

    def validation_metrics(self) -> dict[str, float]:
        """Validation ROC AUC and log loss of each part and of the blend."""
        return dict(self.validation_)
