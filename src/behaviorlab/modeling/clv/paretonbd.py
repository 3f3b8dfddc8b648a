"""Pareto/NBD (Schmittlein, Morrison & Colombo 1987): purchases until an unseen dropout.

While alive a customer buys as a Poisson process (rate ~ Gamma(r, alpha)) and lives an
exponential lifetime (rate ~ Gamma(s, beta)). The likelihood's Gauss hypergeometric term
is evaluated in the numerically stable form of Hardie's note 009 (eqs. 18-20, 36-41), the
one lifetimes uses: the series always runs on the larger of alpha and beta.
"""

import numpy as np
import pandas as pd
from scipy.special import gammaln, hyp2f1

from behaviorlab.modeling.clv.likelihood import TRANSACTION_COLUMNS as COLUMNS
from behaviorlab.modeling.clv.likelihood import FittedModel


def log_a_0(
    params: np.ndarray, frequency: np.ndarray, recency: np.ndarray, age: np.ndarray
) -> np.ndarray:
    """log A_0 (note 009, eqs. 19-20): the hypergeometric part of the likelihood."""
    r, alpha, s, beta = params
    larger, second = (beta, r + frequency) if alpha < beta else (alpha, s + 1)
    gap = abs(alpha - beta)
    rsx = r + s + frequency
    at_recency = np.log(hyp2f1(rsx, second, rsx + 1, gap / (larger + recency)))
    at_recency -= rsx * np.log(larger + recency)
    at_age = np.log(hyp2f1(rsx, second, rsx + 1, gap / (larger + age)))
    at_age -= rsx * np.log(larger + age)
    # -inf when the last purchase was on the calibration end day (recency == T): A_0 = 0.
    with np.errstate(divide="ignore"):
        return at_recency + np.log(-np.expm1(at_age - at_recency))


def paretonbd_log_likelihood(
    params: np.ndarray, frequency: np.ndarray, recency: np.ndarray, age: np.ndarray
) -> np.ndarray:
    """Each customer's log-likelihood of (frequency, recency, T) under (r, alpha, s, beta)."""
    r, alpha, s, beta = params
    x = frequency
    a_1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + age) - s * np.log(beta + age)
    gone = np.log(s) + log_a_0(params, x, recency, age) - np.log(r + s + x)
    return a_1 + np.logaddexp(alive, gone)


class ParetoNBDModel(FittedModel):
    """Pareto/NBD fitted by maximum likelihood; scores conditional purchases and P(alive)."""

    name = "pareto_nbd"
    param_names = ("r", "alpha", "s", "beta")

    def fit(self, summary: pd.DataFrame) -> "ParetoNBDModel":
        """Fit (r, alpha, s, beta) on a purchase summary (frequency, recency, T in days)."""
        return self.fit_transactions(
            summary, paretonbd_log_likelihood, np.ones(4), ("alpha", "beta")
        )

    def expected_purchases(self, summary: pd.DataFrame, t_days: float) -> np.ndarray:
        """Expected purchases in the next ``t_days`` given each customer's history (eq. 41)."""
        params = self.param_values()
        r, alpha, s, beta = params
        x, t_x, age = (summary[name].to_numpy(dtype="float64") for name in COLUMNS)
        with np.errstate(all="ignore"):
            log_likelihood = paretonbd_log_likelihood(params, x, t_x, age)
            alive = (
                gammaln(r + x)
                - gammaln(r)
                + r * np.log(alpha)
                + s * np.log(beta)
                - (r + x) * np.log(alpha + age)
                - s * np.log(beta + age)
            )
            rate = np.log(r + x) + np.log(beta + age) - np.log(alpha + age)
            horizon = np.log(
                -np.expm1((s - 1) * np.log((beta + age) / (beta + age + t_days))) / (s - 1)
            )
            return np.exp(alive + rate + horizon - log_likelihood)

    def probability_alive(self, summary: pd.DataFrame) -> np.ndarray:
        """P(still a customer) given the history (note 009, eq. 36)."""
        params = self.param_values()
        r, alpha, s, beta = params
        x, t_x, age = (summary[name].to_numpy(dtype="float64") for name in COLUMNS)
        with np.errstate(all="ignore"):
            log_odds = (
                np.log(s)
                - np.log(r + s + x)
                + (r + x) * np.log(alpha + age)
                + s * np.log(beta + age)
                + log_a_0(params, x, t_x, age)
            )
        return 1.0 / (1.0 + np.exp(log_odds))
