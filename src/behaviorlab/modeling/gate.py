"""The champion/challenger decision as a pure function of paired evidence on the same rows.

A challenger replaces the champion only on evidence: the one-sided lower bound (level
``alpha``) of the paired-bootstrap gain on the gate metric must clear ``margin``, and no
guard metric may be worse than the champion's beyond its tolerance with the same
confidence. A point gain inside the noise is not evidence.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

HIGHER_IS_BETTER = {"roc_auc": True, "pr_auc": True, "brier": False, "log_loss": False}


@dataclass(frozen=True)
class Decision:
    """Whether to promote, and a reason a person can read in one line."""

    promote: bool
    reason: str
    figures: dict[str, float]


def decide_first_model(challenger: Mapping[str, float], gate: Mapping[str, Any]) -> Decision:
    """With no champion yet, a model is promoted if it clears the absolute floor."""
    metric, floor = gate["metric"], float(gate["floor"])
    value = challenger[metric]
    figures = {f"challenger_{metric}": value, "floor": floor}
    if value >= floor:
        return Decision(True, f"first model: {metric} {value:.4f} >= floor {floor:.4f}", figures)
    return Decision(False, f"first model: {metric} {value:.4f} < floor {floor:.4f}", figures)


def decide_against_champion(
    challenger: Mapping[str, float],
    champion: Mapping[str, float],
    differences: Mapping[str, Mapping[str, float]],
    gate: Mapping[str, Any],
    identical: bool = False,
) -> Decision:
    """Promote when the gain's lower bound clears the margin and no guard is surely worse.

    ``differences[name]`` is the paired bootstrap of challenger minus champion on ``name``:
    ``point``, and the one-sided bounds ``low`` (the ``alpha`` quantile) and ``high`` (the
    ``1 - alpha`` quantile). ``identical`` says both models gave the same predictions.
    """
    metric, margin = gate["metric"], float(gate["margin"])
    confidence = 1 - float(gate["alpha"])
    gain = differences[metric]
    figures = {
        f"challenger_{metric}": challenger[metric],
        f"champion_{metric}": champion[metric],
        "difference": gain["point"],
        "ci_low": gain["low"],
        "ci_high": gain["high"],
        "confidence": confidence,
    }
    if identical:
        return Decision(False, "predictions identical to the champion's: nothing to gain", figures)
    evidence = (
        f"{metric} {gain['point']:+.4f}, one-sided {confidence:.0%} lower bound {gain['low']:+.4f}"
    )
    if not gain["low"] > margin:
        return Decision(False, f"{evidence} does not clear margin {margin}", figures)
    broken = broken_guards(differences, gate["guards"])
    if broken:
        return Decision(False, f"{evidence} but guard surely worse: {', '.join(broken)}", figures)
    return Decision(True, f"{evidence} clears margin {margin}", figures)


def surely_worse_by(name: str, difference: Mapping[str, float]) -> float:
    """The lower bound of how much worse the challenger is on ``name`` (negative: better)."""
    if HIGHER_IS_BETTER[name]:
        return -difference["high"]
    return difference["low"]


def broken_guards(
    differences: Mapping[str, Mapping[str, float]], guards: Mapping[str, float]
) -> list[str]:
    """Guards on which the challenger is worse beyond the tolerance with the gate's confidence."""
    broken = []
    for name, tolerance in guards.items():
        worse = surely_worse_by(name, differences[name])
        if worse > float(tolerance):
            broken.append(f"{name} worse by at least {worse:.4f} > tolerance {tolerance}")
    return broken
