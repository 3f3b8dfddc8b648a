"""Map raw model scores to honest probabilities, fitted on held-out calibration rows only.

The rows are neither training nor early-stopping rows (see ``splits``): scores on the rows
that chose the number of trees are optimistic, and a calibrator fitted there overstates
confidence.
"""

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from behaviorlab.errors import ConfigError

EPSILON = 1e-6


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds of probabilities clipped away from 0 and 1."""
    clipped = np.clip(p, EPSILON, 1 - EPSILON)
    return np.log(clipped / (1 - clipped))


class IsotonicCalibrator:
    """Monotone step function from raw to calibrated probability.

    Steps are kept half an observation away from 0 and 1: a bin of the calibration rows with
    no positives is not proof of a zero probability, and exact zeros make log loss explode.
    """

    def fit(self, p: np.ndarray, y: np.ndarray) -> "IsotonicCalibrator":
        """Fit the step function on calibration scores and labels."""
        floor = 0.5 / len(p)
        self.isotonic_ = IsotonicRegression(y_min=floor, y_max=1 - floor, out_of_bounds="clip")
        self.isotonic_.fit(p, y)
        return self

    def transform(self, p: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw scores."""
        return self.isotonic_.predict(p)


class SigmoidCalibrator:
    """Platt scaling: a logistic regression on the raw log-odds (two parameters)."""

    def fit(self, p: np.ndarray, y: np.ndarray) -> "SigmoidCalibrator":
        """Fit slope and intercept on calibration scores and labels, unpenalised."""
        self.logistic_ = LogisticRegression(C=np.inf).fit(logit(p)[:, None], y)
        return self

    def transform(self, p: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw scores."""
        return self.logistic_.predict_proba(logit(p)[:, None])[:, 1]


CALIBRATORS: dict[str, Callable[[], Any]] = {
    "isotonic": IsotonicCalibrator,
    "sigmoid": SigmoidCalibrator,
}


def fit_calibrator(p: np.ndarray, y: np.ndarray, cfg: Mapping[str, Any]):
    """The calibrator named by ``cfg['method']``, fitted on calibration-row predictions."""
    method = cfg["method"]
    if method not in CALIBRATORS:
        raise ConfigError(f"unknown calibration method {method!r}; choose {sorted(CALIBRATORS)}")
    return CALIBRATORS[method]().fit(np.asarray(p, dtype=float), np.asarray(y))
