"""Maximum likelihood for the CLV models: the shared fitting and storage manners.

Customers with the same (frequency, recency, T) contribute the same log-likelihood, so a
fit evaluates each distinct pattern once, weighted by its count: the cost follows the
number of patterns, not of customers. Time is rescaled so that the oldest customer's T is
1 (as lifetimes does), which keeps the rate parameters near 1 during the search; the
parameters are optimised on the log scale, so they stay positive.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from behaviorlab.errors import ConfigError, DataValidationError

LogLikelihood = Callable[..., np.ndarray]
TRANSACTION_COLUMNS = ("frequency", "recency", "T")
# Tight enough that the parameters settle to about 1e-4 relative on the CDNOW likelihoods.
SEARCH_OPTIONS = {"ftol": 1e-12, "gtol": 1e-9, "maxiter": 5_000}


def count_patterns(summary: pd.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, ...]:
    """The distinct rows of ``columns`` (one array per column) and how many customers share each."""
    missing = [name for name in columns if name not in summary]
    if missing:
        raise DataValidationError(f"the purchase summary lacks the column(s) {missing}")
    counts = summary.groupby(list(columns)).size()
    if counts.empty:
        raise DataValidationError("no customers to fit the model on")
    values = [counts.index.get_level_values(name).to_numpy(dtype="float64") for name in columns]
    return (*values, counts.to_numpy(dtype="float64"))


def maximize_likelihood(
    log_likelihood: LogLikelihood,
    data: Sequence[np.ndarray],
    weights: np.ndarray,
    start: np.ndarray,
    penalizer: float,
    gradient: LogLikelihood | None = None,
) -> list[float]:
    """Parameters maximising the weighted mean log-likelihood minus an L2 penalty.

    ``log_likelihood(params, *data)`` returns one value per pattern and ``gradient`` (when
    known in closed form) one row per parameter of its derivatives; without it the search
    differentiates numerically. The search runs on log-parameters and returns the
    parameters themselves.
    """
    total = weights.sum()

    # A line search may step to huge log-parameters: their overflow reads as +inf (rejected).
    def objective(log_params: np.ndarray) -> float:
        with np.errstate(all="ignore"):
            params = np.exp(log_params)
            value = -np.dot(weights, log_likelihood(params, *data)) / total
            value += penalizer * float(np.sum(params**2))
        return value if np.isfinite(value) else np.inf

    def with_gradient(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(all="ignore"):
            params = np.exp(log_params)
            slopes = gradient(params, *data) @ weights / total
            return objective(log_params), (2 * penalizer * params - slopes) * params

    # Finite differences step past the region where the likelihood is finite: +inf there.
    with np.errstate(invalid="ignore"):
        found = minimize(
            objective if gradient is None else with_gradient,
            np.log(start),
            jac=gradient is not None,
            method="L-BFGS-B",
            options=SEARCH_OPTIONS,
        )
    if not np.all(np.isfinite(found.x)) or not np.isfinite(found.fun):
        raise DataValidationError(f"the likelihood search did not converge: {found.message}")
    return [float(value) for value in np.exp(found.x)]


class FittedModel:
    """Storage manners shared by the models: parameters as a plain dict, JSON-ready."""

    name: ClassVar[str]
    param_names: ClassVar[tuple[str, ...]]

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    def fit_transactions(
        self,
        summary: pd.DataFrame,
        log_likelihood: LogLikelihood,
        start: np.ndarray,
        time_params: tuple[str, ...],
        gradient: LogLikelihood | None = None,
    ) -> Self:
        """Fit a model of repeat purchases and dropout on (frequency, recency, T) in days:
        searched with time rescaled so the oldest T is 1, then ``time_params`` (the
        parameters measured in days) scaled back."""
        frequency, recency, age, weights = count_patterns(summary, TRANSACTION_COLUMNS)
        scale = float(age.max())
        found = maximize_likelihood(
            log_likelihood,
            (frequency, recency / scale, age / scale),
            weights,
            start,
            self.penalizer,
            gradient,
        )
        self.params_ = {
            name: value * scale if name in time_params else value
            for name, value in zip(self.param_names, found, strict=True)
        }
        per_pattern = log_likelihood(self.param_values(), frequency, recency, age)
        self.log_likelihood_ = float(np.dot(weights, per_pattern))
        return self

    def check_fitted(self) -> None:
        """Scoring needs parameters: refuse clearly before ``fit`` or ``from_dict``."""
        if not hasattr(self, "params_"):
            raise ConfigError(f"the {self.name} model is not fitted: call fit() first")

    def param_values(self) -> list[float]:
        """The fitted parameters in their conventional order."""
        self.check_fitted()
        return [self.params_[name] for name in self.param_names]

    def to_dict(self) -> dict[str, Any]:
        """The model name, penalizer, parameters and log-likelihood as plain JSON values."""
        self.check_fitted()
        return {
            "model": self.name,
            "penalizer": float(self.penalizer),
            "params": {name: float(self.params_[name]) for name in self.param_names},
            "log_likelihood": float(self.log_likelihood_),
        }

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> Self:
        """A fitted model back from ``to_dict`` output, ready to score."""
        if stored.get("model") != cls.name:
            raise ConfigError(f"stored model is {stored.get('model')!r}, expected {cls.name!r}")
        params = stored.get("params", {})
        missing = [name for name in cls.param_names if name not in params]
        if missing:
            raise ConfigError(f"stored {cls.name} model lacks the parameter(s) {missing}")
        model = cls(penalizer=float(stored.get("penalizer", 0.0)))
        model.params_ = {name: float(params[name]) for name in cls.param_names}
        model.log_likelihood_ = float(stored.get("log_likelihood", float("nan")))
        return model
