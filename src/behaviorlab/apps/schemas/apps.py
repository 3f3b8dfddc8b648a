"""Schemas of each app's primary config: its own keys, and the groups it composes."""

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from behaviorlab.apps.schemas.analysis import AnalysisConfig
from behaviorlab.apps.schemas.groups import (
    DataConfig,
    EngineConfig,
    FeaturesConfig,
    ModelConfig,
    PathsConfig,
    RegistryConfig,
    SplitConfig,
    TaskConfig,
    TrackingConfig,
    TuningConfig,
)


@dataclass
class CalibrationConfig:
    method: str = MISSING


@dataclass
class EvaluationConfig:
    threshold: float = MISSING
    top_k_fracs: list[float] = MISSING
    n_bins: int = MISSING
    n_boot: int = MISSING
    ci_level: float = MISSING


@dataclass
class ExplainConfig:
    max_rows: int = MISSING
    n_dependence: int = MISSING
    seed: int = MISSING


@dataclass
class TiersConfig:
    """``mode: thresholds`` (probabilities) or ``capacity`` (shares of the customers scored);
    a tier left null is not used."""

    mode: str = MISSING
    high: float | None = None
    medium: float | None = None


@dataclass
class ActionsConfig:
    """The playbook: what a team does with each tier (null: no action written)."""

    high: str | None = MISSING
    medium: str | None = MISSING
    low: str | None = MISSING


@dataclass
class ScoringConfig:
    tiers: TiersConfig = field(default_factory=TiersConfig)
    actions: ActionsConfig = field(default_factory=ActionsConfig)
    reason_tiers: list[str] = MISSING
    n_reasons: int = MISSING
    unseen_categories: str = MISSING


@dataclass
class TrainingSampleConfig:
    """A share (``fraction``) or row bound (``max_rows``) of whole customers; both null:
    every row."""

    fraction: float | None = MISSING
    max_rows: int | None = MISSING
    salt: str = MISSING


@dataclass
class TrainingConfig:
    sample: TrainingSampleConfig = field(default_factory=TrainingSampleConfig)


@dataclass
class TrainConfig:
    seed: int = MISSING
    run_name: str = MISSING
    study_prefix: str = MISSING
    permute_labels: bool = MISSING
    optuna_storage: str = MISSING
    training: TrainingConfig = field(default_factory=TrainingConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    explain: ExplainConfig = field(default_factory=ExplainConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    paths: PathsConfig = MISSING
    data: DataConfig = MISSING
    task: TaskConfig = MISSING
    features: FeaturesConfig = MISSING
    model: ModelConfig = MISSING
    split: SplitConfig = MISSING
    tuning: TuningConfig = MISSING
    tracking: TrackingConfig = MISSING
    registry: RegistryConfig = MISSING
    engine: EngineConfig = MISSING


@dataclass
class DuckDBOutputConfig:
    database: str | None = MISSING
    table: str = MISSING


@dataclass
class ScoreOutputConfig:
    path: str = MISSING
    duckdb: DuckDBOutputConfig = MISSING


@dataclass
class ScoreConfig:
    registered_model: str = MISSING
    clv_model: str | None = MISSING
    rank_by: str = MISSING
    cutoff: str | None = MISSING
    window_days: int | None = MISSING
    partition_customers: int = MISSING
    chunk_size: int = MISSING
    reason_tiers: list[str] = MISSING
    psi_warn: float = MISSING
    progress: bool = MISSING
    output: ScoreOutputConfig = MISSING
    experiment_name: str = MISSING
    paths: PathsConfig = MISSING
    data: DataConfig = MISSING
    tracking: TrackingConfig = MISSING
    engine: EngineConfig = MISSING


@dataclass
class PromoteConfig:
    action: str = MISSING
    version: str = MISSING
    paths: PathsConfig = MISSING
    data: DataConfig = MISSING
    task: TaskConfig = MISSING
    tracking: TrackingConfig = MISSING
    registry: RegistryConfig = MISSING
    engine: EngineConfig = MISSING


@dataclass
class AnalyzeConfig:
    run_name: str = MISSING
    experiment_name: str = MISSING
    output_dir: str = MISSING
    truth_path: str | None = MISSING
    paths: PathsConfig = MISSING
    data: DataConfig = MISSING
    tracking: TrackingConfig = MISSING
    engine: EngineConfig = MISSING
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)


@dataclass
class SimulateConfig:
    n_customers: int = MISSING
    seed: int = MISSING
    start: str = MISSING
    end: str = MISSING
    oracle_cutoff: str | None = MISSING
    horizon_days: int = MISSING
    out_dir: str = MISSING
    chunk_customers: int = MISSING
    # a simulated experiment; keys checked by data/simulator/intervention.py
    intervention: Any = None
    paths: PathsConfig = MISSING


@dataclass
class CompareConfig:
    """``runs`` (ids, the first the baseline) or ``from_experiment`` (its newest training runs)."""

    runs: list[str] = MISSING
    from_experiment: str | None = MISSING
    max_runs: int = MISSING
    n_boot: int = MISSING
    ci_level: float = MISSING
    n_bins: int = MISSING
    seed: int = MISSING
    run_name: str = MISSING
    output_dir: str = MISSING
    paths: PathsConfig = MISSING
    tracking: TrackingConfig = MISSING


APP_SCHEMAS: dict[str, Any] = {
    "train_schema": TrainConfig,
    "score_schema": ScoreConfig,
    "promote_schema": PromoteConfig,
    "analyze_schema": AnalyzeConfig,
    "simulate_schema": SimulateConfig,
    "compare_schema": CompareConfig,
}
