"""Typed schemas for the training config: a misspelt key or a wrong type fails at start.

Swappable groups (data, task, features, model, split, tuning) stay open (``Any``) because
their shape depends on the choice; the sections every job shares are checked.
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class CalibrationConfig:
    method: str = "sigmoid"


@dataclass
class EvaluationConfig:
    threshold: float = 0.5
    top_k_fracs: list[float] = field(default_factory=lambda: [0.05, 0.1, 0.2])
    n_bins: int = 10


@dataclass
class ExplainConfig:
    max_rows: int = 2000
    n_dependence: int = 5
    seed: int = 0


@dataclass
class ScoringConfig:
    tiers: dict[str, float] = field(default_factory=lambda: {"high": 0.8, "medium": 0.5})
    reason_tiers: list[str] = field(default_factory=lambda: ["high", "medium"])
    n_reasons: int = 3


@dataclass
class GateConfig:
    metric: str = "roc_auc"
    margin: float = 0.0
    guards: dict[str, float] = field(default_factory=dict)
    floor: float = 0.6
    n_boot: int = 1000
    seed: int = 7
    alpha: float = 0.05
    holdout_fraction: float = 0.15
    salt: str = "gate"


@dataclass
class RegistryConfig:
    model_name: str = MISSING
    register: bool = True
    promote_after_training: bool = True
    gate: GateConfig = field(default_factory=GateConfig)


@dataclass
class TrainConfig:
    seed: int = 7
    run_name: str = MISSING
    study_prefix: str = MISSING
    permute_labels: bool = False
    optuna_storage: str = MISSING
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    explain: ExplainConfig = field(default_factory=ExplainConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    registry: RegistryConfig = field(default_factory=RegistryConfig)
    paths: Any = MISSING
    data: Any = MISSING
    task: Any = MISSING
    features: Any = MISSING
    model: Any = MISSING
    split: Any = MISSING
    tuning: Any = MISSING
    tracking: Any = MISSING


def register_schemas() -> None:
    """Make the schemas available to the defaults lists (``- train_schema``)."""
    ConfigStore.instance().store(name="train_schema", node=TrainConfig)
