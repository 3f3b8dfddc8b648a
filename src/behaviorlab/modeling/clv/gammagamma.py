"""Gamma-Gamma (Fader, Hardie & Lee 2005; Hardie's note 025): spend per purchase occasion.

Each customer's mean spend per occasion is Gamma(p, nu) with nu ~ Gamma(q, v); the model
shrinks a customer's observed average towards the population mean, more strongly when they
have few repeat purchases. It assumes spend is independent of purchase frequency.
"""

import numpy as np
import pandas as pd
from scipy.special import digamma, gammaln

from behaviorlab.errors import DataValidationError
from behaviorlab.modeling.clv.likelihood import FittedModel, count_patterns, maximize_likelihood

COLUMNS = ("frequency", "monetary_value")


def gammagamma_log_likelihood(
    params: np.ndarray, frequency: np.ndarray, monetary_value: np.ndarray
) -> np.ndarray:
    """Each customer's log-likelihood of their mean repeat spend under (p, q, v)."""
    p, q, v = params
    x, m = frequency, monetary_value
    return (
        gammaln(p * x + q)
        - gammaln(p * x)
        - gammaln(q)
        + q * np.log(v)
        + (p * x - 1) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(x * m + v)
    )


def gammagamma_gradient(
    params: np.ndarray, frequency: np.ndarray, monetary_value: np.ndarray
) -> np.ndarray:
    """d log-likelihood / d (p, q, v), one row per parameter."""
    p, q, v = params
    x, m = frequency, monetary_value
    spent = np.log(x * m + v)
    return np.stack(
        [
            x * (digamma(p * x + q) - digamma(p * x) + np.log(m) + np.log(x) - spent),
            digamma(p * x + q) - digamma(q) + np.log(v) - spent,
            q / v - (p * x + q) / (x * m + v),
        ]
    )


class GammaGammaModel(FittedModel):
    """Gamma-Gamma fitted by maximum likelihood on repeat buyers with a positive spend."""

    name = "gamma_gamma"
    param_names = ("p", "q", "v")

    def fit(self, summary: pd.DataFrame) -> "GammaGammaModel":
        """Fit (p, q, v) on customers with frequency > 0 and monetary_value > 0.

        One-time buyers have no repeat spend, and a zero average has no Gamma density.
        """
        kept = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
        if kept.empty:
            raise DataValidationError(
                "no repeat buyer with a positive monetary_value: the spend model needs amounts"
            )
        frequency, monetary_value, weights = count_patterns(kept, COLUMNS)
        p, q, v = maximize_likelihood(
            gammagamma_log_likelihood,
            (frequency, monetary_value),
            weights,
            np.full(3, np.exp(0.1)),
            self.penalizer,
            gammagamma_gradient,
        )
        self.params_ = {"p": p, "q": q, "v": v}
        log_likelihood = gammagamma_log_likelihood(self.param_values(), frequency, monetary_value)
        self.log_likelihood_ = float(np.dot(weights, log_likelihood))
        return self

    def population_mean(self) -> float:
        """Mean spend per occasion of a customer about whom nothing is known (q > 1)."""
        p, q, v = self.param_values()
        return v * p / (q - 1)

    def expected_order_value(self, summary: pd.DataFrame) -> np.ndarray:
        """Conditional expected spend per occasion (note 025, eq. 5); the population mean
        for customers without repeat purchases."""
        p, q, _ = self.param_values()
        x = summary["frequency"].to_numpy(dtype="float64")
        m = summary["monetary_value"].to_numpy(dtype="float64")
        weight = p * x / (p * x + q - 1)
        mean = self.population_mean()
        return np.where(x > 0, (1 - weight) * mean + weight * m, mean)
