"""Turn feature rows into what a retention team acts on: probability, tier, action, reasons.

Output columns, in order: ``probability`` (calibrated), ``tier``, ``action`` (the
playbook's step for the tier, empty when none is configured), then per rank k
``reason_k`` (readable text), ``reason_k_feature`` (the feature's name) and
``reason_k_contribution`` (its SHAP contribution on the log-odds scale, > 0). Empty
values are nulls (pandas NA), never NaN.

Tiers come from probability thresholds (``mode: thresholds``, a tier is the highest one
reached) or from a team's capacity (``mode: capacity``: shares of the rows scored
together, the first tier named taking the top share, the next the following share).
Capacity tiers rank by probability, or by value at risk (``rank_by: value_at_risk``: the
probability times the customer's lifetime value) when batch scoring has a CLV model.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from behaviorlab.errors import ConfigError
from behaviorlab.scoring.reasons import positive_reasons, reason_texts

LOWEST_TIER = "low"
MODES = ("thresholds", "capacity")
RANKINGS = ("probability", "value_at_risk")
SETTING_KEYS = ("mode", "rank_by")


def tier_mode(tiers: Mapping[str, Any]) -> str:
    """``thresholds`` (the default, and what a tier mapping without ``mode`` means) or
    ``capacity``."""
    return str(tiers.get("mode") or "thresholds")


def tier_ranking(tiers: Mapping[str, Any]) -> str:
    """What capacity tiers rank customers by: ``probability`` (the default) or
    ``value_at_risk`` (probability x customer lifetime value, when a CLV model scores)."""
    return str(tiers.get("rank_by") or RANKINGS[0])


def tier_levels(tiers: Mapping[str, Any]) -> dict[str, float]:
    """The named tiers with their threshold or share (unset tiers left out), in order."""
    return {
        name: float(v) for name, v in tiers.items() if name not in SETTING_KEYS and v is not None
    }


def tier_names(tiers: Mapping[str, Any]) -> list[str]:
    """Every tier a row can get, highest first, ``low`` last."""
    levels = tier_levels(tiers)
    if tier_mode(tiers) == "thresholds":
        levels = dict(sorted(levels.items(), key=lambda item: item[1], reverse=True))
    return [*levels, LOWEST_TIER]


def assign_tiers(probability: np.ndarray, tiers: Mapping[str, Any]) -> np.ndarray:
    """Each row's tier: by probability thresholds, or by capacity over these rows."""
    if tier_mode(tiers) == "capacity":
        return tiers_by_capacity(probability, tier_levels(tiers))
    return tiers_by_threshold(probability, tier_levels(tiers))


def check_ranking(tiers: Mapping[str, Any], valued: bool) -> None:
    """Ranking by value at risk needs capacity tiers and customers valued by a CLV model."""
    ranking = tier_ranking(tiers)
    if ranking not in RANKINGS:
        raise ConfigError(f"rank_by must be one of {list(RANKINGS)}, got {ranking!r}")
    if ranking == "probability":
        return
    if tier_mode(tiers) != "capacity":
        raise ConfigError(
            "rank_by value_at_risk ranks capacity tiers; this model's tiers are probability "
            "thresholds (train it with scoring.tiers.mode=capacity)"
        )
    if not valued:
        raise ConfigError("rank_by value_at_risk needs clv_model (a registered CLV model)")


def assign_ranked_tiers(
    probability: np.ndarray, tiers: Mapping[str, Any], value_at_risk: np.ndarray | None = None
) -> np.ndarray:
    """Each row's tier, capacity tiers ranking by the tiers' ``rank_by`` (probability or
    value at risk, see ``check_ranking``)."""
    check_ranking(tiers, value_at_risk is not None)
    if tier_ranking(tiers) == "value_at_risk":
        return tiers_by_capacity(value_at_risk, tier_levels(tiers))
    return assign_tiers(probability, tiers)


def tiers_by_threshold(probability: np.ndarray, thresholds: Mapping[str, float]) -> np.ndarray:
    """Name each probability by the highest tier whose threshold it reaches."""
    ordered = sorted(thresholds.items(), key=lambda item: item[1], reverse=True)
    names = [name for name, _ in ordered] + [LOWEST_TIER]
    cut = np.array([threshold for _, threshold in ordered])
    index = (np.asarray(probability)[:, None] < cut[None, :]).sum(axis=1)
    return np.asarray(names, dtype=object)[index]


def tiers_by_capacity(probability: np.ndarray, shares: Mapping[str, float]) -> np.ndarray:
    """The top ``round(share * n)`` rows by probability (or value at risk) get the first
    tier, the next ones the second, and so on (rounded on the running total); ties are
    broken by row order, so a tier holds exactly its share whatever the plateaus."""
    probability = np.asarray(probability, dtype=float)
    order = np.argsort(-probability, kind="stable")
    tier = np.full(len(probability), LOWEST_TIER, dtype=object)
    start, taken = 0, 0.0
    for name, share in shares.items():
        taken += share
        end = min(round(taken * len(probability)), len(probability))
        tier[order[start:end]] = name
        start = max(start, end)
    return tier


def capacity_thresholds(probability: np.ndarray, shares: Mapping[str, float]) -> dict[str, float]:
    """The probability cut-offs that give each capacity tier its share on these rows
    (stored at training time from the test predictions, for scoring one request at a time)."""
    ordered = np.sort(np.asarray(probability, dtype=float))[::-1]
    thresholds, taken = {}, 0.0
    for name, share in shares.items():
        taken += share
        count = min(round(taken * len(ordered)), len(ordered))
        thresholds[name] = float(ordered[count - 1]) if count else 1.0
    return thresholds


def serving_tiers(scoring: Mapping[str, Any]) -> Mapping[str, Any]:
    """The tiers for rows scored without the rest of the population (HTTP serving): capacity
    tiers use the probability cut-offs stored at training time when the model has them."""
    tiers = scoring["tiers"]
    stored = scoring.get("capacity_thresholds")
    if tier_mode(tiers) == "capacity" and stored:
        return {"mode": "thresholds", **stored}
    return tiers


def reason_columns(n_reasons: int) -> list[str]:
    """Output columns holding the top reasons, in order."""
    return [
        f"reason_{k}{suffix}"
        for k in range(1, n_reasons + 1)
        for suffix in ("", "_feature", "_contribution")
    ]


def output_columns(n_reasons: int) -> list[str]:
    """Every column ``score_features`` returns, in order."""
    return ["probability", "tier", "action", *reason_columns(n_reasons)]


def actions_for(tier: np.ndarray, actions: Mapping[str, str] | None) -> pd.Series:
    """The playbook's action of each row's tier (empty without a playbook)."""
    mapped = pd.Series(tier, dtype="object").map(dict(actions or {}))
    return mapped.astype("string")


def score_features(
    model,
    features: pd.DataFrame,
    tiers: Mapping[str, Any],
    reason_tiers: Sequence[str],
    n_reasons: int,
    *,
    reasons: Mapping[str, Any] | None = None,
    actions: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Score feature rows: probability, tier (capacity tiers over these rows), action, and
    readable reasons for the tiers that act on them (see the module docstring).

    ``reasons`` is the model spec's reason table (descriptions and reference values; without
    it a reason reads ``<feature>: <value>``), ``actions`` the tier-to-action playbook.
    """
    probability = model.predict_proba(features)
    tier = assign_tiers(probability, tiers)
    return explain_scores(
        model, features, probability, tier, reason_tiers, n_reasons, reasons, actions
    )


def score_with_spec(
    model, features: pd.DataFrame, spec: Mapping[str, Any], reason_tiers=None
) -> pd.DataFrame:
    """``score_features`` with everything read from a model's spec: what the pyfunc serves."""
    scoring = spec["scoring"]
    return score_features(
        model,
        features,
        serving_tiers(scoring),
        scoring["reason_tiers"] if reason_tiers is None else reason_tiers,
        scoring["n_reasons"],
        reasons=spec.get("reasons"),
        actions=scoring.get("actions"),
    )


def explain_scores(
    model,
    features: pd.DataFrame,
    probability: np.ndarray,
    tier: np.ndarray,
    reason_tiers: Sequence[str],
    n_reasons: int,
    reasons: Mapping[str, Any] | None = None,
    actions: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The output frame for rows whose probability and tier are known.

    Exact SHAP reasons only for the acting tiers (they cost far more than probabilities);
    other rows get empty reasons.
    """
    n = len(features)
    scored = pd.DataFrame(
        {
            "probability": np.asarray(probability, dtype=float),
            "tier": pd.Series(tier, dtype="object").astype("string"),
            "action": actions_for(tier, actions),
        }
    )
    for k in range(1, n_reasons + 1):
        scored[f"reason_{k}"] = pd.Series(pd.NA, index=range(n), dtype="string")
        scored[f"reason_{k}_feature"] = pd.Series(pd.NA, index=range(n), dtype="string")
        scored[f"reason_{k}_contribution"] = pd.Series(pd.NA, index=range(n), dtype="Float64")
    acting = np.flatnonzero(np.isin(tier, list(reason_tiers)))
    available = min(n_reasons, len(model.feature_names))
    if len(acting) and available:
        rows = features.iloc[acting]
        names, values, present = positive_reasons(model.contributions(rows), available)
        texts = reason_texts(rows, names, present, reasons)
        for rank in range(available):
            k = rank + 1
            keep = present[:, rank]
            where = acting[keep]
            scored.loc[where, f"reason_{k}"] = [t for t in texts[rank] if t is not None]
            scored.loc[where, f"reason_{k}_feature"] = names[keep, rank].astype(str)
            scored.loc[where, f"reason_{k}_contribution"] = values[keep, rank]
    return scored
