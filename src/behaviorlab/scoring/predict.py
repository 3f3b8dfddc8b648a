"""Turn feature rows into what a retention team acts on: probability, tier and reasons."""

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

LOWEST_TIER = "low"


def assign_tiers(probability: np.ndarray, tiers: Mapping[str, float]) -> np.ndarray:
    """Name each probability by the highest tier whose threshold it reaches."""
    ordered = sorted(tiers.items(), key=lambda item: item[1], reverse=True)
    names = [name for name, _ in ordered] + [LOWEST_TIER]
    thresholds = np.array([threshold for _, threshold in ordered])
    index = (probability[:, None] < thresholds[None, :]).sum(axis=1)
    return np.asarray(names, dtype=object)[index]


def reason_columns(n_reasons: int) -> list[str]:
    """Output columns holding the top reasons, in order."""
    names = [f"reason_{k}" for k in range(1, n_reasons + 1)]
    values = [f"reason_{k}_value" for k in range(1, n_reasons + 1)]
    return [column for pair in zip(names, values, strict=True) for column in pair]


def score_features(
    model,
    features: pd.DataFrame,
    tiers: Mapping[str, float],
    reason_tiers: Sequence[str],
    n_reasons: int,
) -> pd.DataFrame:
    """Score feature rows; exact SHAP reasons only for the tiers that act on them.

    Reasons cost far more than probabilities, so rows in other tiers get empty reasons; a
    model with fewer features than ``n_reasons`` leaves the extra reasons empty.
    """
    probability = model.predict_proba(features)
    tier = assign_tiers(probability, tiers)
    scored = pd.DataFrame({"probability": probability, "tier": tier}, index=features.index)
    for k in range(1, n_reasons + 1):
        scored[f"reason_{k}"] = pd.Series(pd.NA, index=features.index, dtype="string")
        scored[f"reason_{k}_value"] = np.nan
    acting = np.isin(tier, list(reason_tiers))
    available = min(n_reasons, len(model.feature_names))
    if acting.any() and available:
        reasons = model.top_reasons(features.loc[acting], k=available)
        for column in reason_columns(available):
            scored.loc[acting, column] = reasons[column].to_numpy()
    return scored.reset_index(drop=True)
