"""Probabilistic customer lifetime value: BG/NBD, Pareto/NBD and Gamma-Gamma by maximum
likelihood, their per-customer scores, CLV segments and holdout validation."""

from behaviorlab.errors import ConfigError
from behaviorlab.modeling.clv.bgnbd import BetaGeoModel
from behaviorlab.modeling.clv.gammagamma import GammaGammaModel
from behaviorlab.modeling.clv.paretonbd import ParetoNBDModel
from behaviorlab.modeling.clv.summary import summarize_purchases
from behaviorlab.modeling.clv.validation import HoldoutCheck, check_holdout, predict_holdout
from behaviorlab.modeling.clv.value import customer_lifetime_value, score_clv, segment_clv

TRANSACTIONS_MODELS = {model.name: model for model in (BetaGeoModel, ParetoNBDModel)}


def transactions_model(name: str | None, key: str = "transactions_model") -> type:
    """The purchase-count model class that the setting ``key`` names."""
    if name not in TRANSACTIONS_MODELS:
        raise ConfigError(f"{key} must be one of {sorted(TRANSACTIONS_MODELS)}, got {name!r}")
    return TRANSACTIONS_MODELS[name]


__all__ = [
    "TRANSACTIONS_MODELS",
    "BetaGeoModel",
    "GammaGammaModel",
    "HoldoutCheck",
    "ParetoNBDModel",
    "check_holdout",
    "customer_lifetime_value",
    "predict_holdout",
    "score_clv",
    "segment_clv",
    "summarize_purchases",
    "transactions_model",
]
