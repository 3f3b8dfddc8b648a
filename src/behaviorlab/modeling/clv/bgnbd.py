"""BG/NBD (Fader, Hardie & Lee 2005): repeat purchases of customers who may drop out.

While alive a customer buys as a Poisson process (rate ~ Gamma(r, alpha)); after each
purchase they drop out with probability p ~ Beta(a, b). The formulas follow the paper and
Hardie's notes 004 and 021, as lifetimes implements them.
"""

import numpy as np
import pandas as pd
from scipy.special import digamma, expit, gammaln, hyp2f1

from behaviorlab.modeling.clv.likelihood import TRANSACTION_COLUMNS as COLUMNS
from behaviorlab.modeling.clv.likelihood import FittedModel


def bgnbd_log_likelihood(
    params: np.ndarray, frequency: np.ndarray, recency: np.ndarray, age: np.ndarray
) -> np.ndarray:
    """Each customer's log-likelihood of (frequency, recency, T) under (r, alpha, a, b)."""
    r, alpha, a, b = params
    x = frequency
    a_1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a_2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a_3 = -(r + x) * np.log(alpha + age)
    a_4 = np.log(a) - np.log(b + np.maximum(x, 1) - 1) - (r + x) * np.log(alpha + recency)
    return a_1 + a_2 + np.logaddexp(a_3, np.where(x > 0, a_4, -np.inf))


def bgnbd_gradient(
    params: np.ndarray, frequency: np.ndarray, recency: np.ndarray, age: np.ndarray
) -> np.ndarray:
    """d log-likelihood / d (r, alpha, a, b), one row per parameter."""
    r, alpha, a, b = params
    x = frequency
    a_3 = -(r + x) * np.log(alpha + age)
    a_4 = np.log(a) - np.log(b + np.maximum(x, 1) - 1) - (r + x) * np.log(alpha + recency)
    dropped = np.where(x > 0, expit(a_4 - a_3), 0.0)  # share of the dropout branch
    stayed = 1 - dropped
    return np.stack(
        [
            digamma(r + x)
            - digamma(r)
            + np.log(alpha)
            - stayed * np.log(alpha + age)
            - dropped * np.log(alpha + recency),
            r / alpha - (r + x) * (stayed / (alpha + age) + dropped / (alpha + recency)),
            digamma(a + b) - digamma(a + b + x) + dropped / a,
            digamma(a + b)
            + digamma(b + x)
            - digamma(b)
            - digamma(a + b + x)
            - dropped / (b + np.maximum(x, 1) - 1),
        ]
    )


class BetaGeoModel(FittedModel):
    """BG/NBD fitted by maximum likelihood; scores conditional purchases and P(alive)."""

    name = "bg_nbd"
    param_names = ("r", "alpha", "a", "b")

    def fit(self, summary: pd.DataFrame) -> "BetaGeoModel":
        """Fit (r, alpha, a, b) on a purchase summary (frequency, recency, T in days)."""
        return self.fit_transactions(
            summary, bgnbd_log_likelihood, np.full(4, np.exp(0.1)), ("alpha",), bgnbd_gradient
        )

    def expected_purchases(self, summary: pd.DataFrame, t_days: float) -> np.ndarray:
        """Expected purchases in the next ``t_days`` given each customer's history (eq. 10)."""
        r, alpha, a, b = self.param_values()
        x, t_x, age = (summary[name].to_numpy(dtype="float64") for name in COLUMNS)
        _a, _b, _c = r + x, b + x, a + b + x - 1
        z = t_days / (alpha + age + t_days)
        with np.errstate(all="ignore"):
            hyp = hyp2f1(_a, _b, _c, z)
            log_hyp = np.log(hyp)
            log_hyp_alt = np.log(hyp2f1(_c - _a, _c - _b, _c, z)) + (_c - _a - _b) * np.log(1 - z)
            log_hyp = np.where(np.isinf(log_hyp), log_hyp_alt, log_hyp)
            log_power = (r + x) * np.log((alpha + age) / (alpha + t_days + age))
            # With a + b < 1 a one-time buyer's series is negative: no log, subtract directly.
            remaining = np.where(
                hyp > 0, -np.expm1(log_hyp + log_power), 1.0 - hyp * np.exp(log_power)
            )
            numerator = (a + b + x - 1) / (a - 1) * remaining
            odds = a / (b + np.maximum(x, 1) - 1) * ((alpha + age) / (alpha + t_x)) ** (r + x)
        return numerator / (1 + np.where(x > 0, odds, 0.0))

    def probability_alive(self, summary: pd.DataFrame) -> np.ndarray:
        """P(still a customer) given the history (note 021); 1 for one-time buyers."""
        r, alpha, a, b = self.param_values()
        x, t_x, age = (summary[name].to_numpy(dtype="float64") for name in COLUMNS)
        log_odds = (r + x) * np.log((alpha + age) / (alpha + t_x)) + np.log(
            a / (b + np.maximum(x, 1) - 1)
        )
        return np.where(x == 0, 1.0, expit(-log_odds))
