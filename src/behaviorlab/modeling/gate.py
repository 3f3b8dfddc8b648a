"""The champion/challenger decision as a pure function of metrics on the same holdout."""

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
    difference: Mapping[str, float],
    gate: Mapping[str, Any],
) -> Decision:
    """Promote when the challenger beats the champion (by at least the margin), breaking no guard.

    ``difference`` is the paired bootstrap of challenger minus champion on the gate metric.
    """
    metric, margin = gate["metric"], float(gate["margin"])
    gain = challenger[metric] - champion[metric]
    figures = {
        f"challenger_{metric}": challenger[metric],
        f"champion_{metric}": champion[metric],
        "difference": gain,
        "ci_low": difference["ci_low"],
        "ci_high": difference["ci_high"],
    }
    ci = f"[{difference['ci_low']:+.4f}, {difference['ci_high']:+.4f}]"
    if gain <= 0 or gain < margin:
        return Decision(
            False, f"{metric} {gain:+.4f} (95% CI {ci}) does not beat margin {margin}", figures
        )
    broken = broken_guards(challenger, champion, gate.get("guards", {}))
    if broken:
        return Decision(
            False, f"{metric} {gain:+.4f} but guard worse: {', '.join(broken)}", figures
        )
    return Decision(True, f"{metric} {gain:+.4f} (95% CI {ci}) beats margin {margin}", figures)


def broken_guards(
    challenger: Mapping[str, float], champion: Mapping[str, float], guards: Mapping[str, float]
) -> list[str]:
    """Guard metrics on which the challenger is worse than the champion beyond a tolerance."""
    broken = []
    for name, tolerance in guards.items():
        worsening = champion[name] - challenger[name]
        if not HIGHER_IS_BETTER[name]:
            worsening = -worsening
        if worsening > float(tolerance):
            broken.append(f"{name} {challenger[name]:.4f} vs {champion[name]:.4f}")
    return broken
