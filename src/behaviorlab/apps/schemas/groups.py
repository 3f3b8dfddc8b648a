"""Schemas of the config groups that every app shares: a misspelt key fails at compose time.

Each group yaml names its schema first in its own defaults list (``- base_task``), the
pattern Hydra documents for validating config groups, so every app that picks the group
checks it. Groups whose shape depends on the choice (task kinds, model kinds, split kinds)
have one schema per choice. The values live in conf/ only: a field is MISSING when every
choice sets it, and None only when it is optional (absent from some choices).
"""

from dataclasses import dataclass
from typing import Any

from omegaconf import MISSING


@dataclass
class PathsConfig:
    root_dir: str = MISSING
    data_dir: str = MISSING
    shared_data: str = MISSING
    cache_dir: str = MISSING


@dataclass
class CsvConfig:
    """Delimited-file options; the defaults are the readers' own (data/readers.py)."""

    sep: str = ","
    header: bool = True
    names: list[str] | None = None


@dataclass
class SourceConfig:
    """One table: a file (csv/parquet), a DuckDB table or a SQL query, with its mapping.

    Customers may instead come ``from_events`` (event columns read per customer) and may
    carry ``valid_from``/``valid_to`` columns that time their rows.
    """

    path: str | None = None
    format: str | None = None
    csv: CsvConfig | None = None
    encoding: str | None = None
    database: str | None = None
    table: str | None = None
    query: str | None = None
    columns: dict[str, str | None] | None = None
    event_name: str | None = None
    timestamp_format: str | None = None
    timezone: str | None = None
    valid_from: str | None = None
    valid_to: str | None = None
    from_events: list[str] | None = None


@dataclass
class ValidationConfig:
    allow_negative_amounts: bool = MISSING
    drop_duplicates: bool = MISSING
    future_tolerance: str = MISSING
    earliest: str | None = MISSING
    min_id_overlap: float = MISSING


@dataclass
class SimulateDataConfig:
    out_dir: str = MISSING
    n_customers: int = MISSING
    seed: int = MISSING
    start: str = MISSING
    end: str = MISSING
    # a simulated experiment; keys checked by data/simulator/intervention.py
    intervention: Any = None


@dataclass
class DataConfig:
    name: str = MISSING
    path: str | None = MISSING
    events: SourceConfig | None = MISSING
    customers: SourceConfig | None = MISSING
    assignments: SourceConfig | None = None
    validation: ValidationConfig = MISSING
    simulate: SimulateDataConfig | None = MISSING


@dataclass
class EventSnapshotsConfig:
    """Calendar cutoffs (explicit, or a grid) or one snapshot per customer after signup."""

    kind: str = MISSING
    cutoffs: list[str] | None = MISSING
    start: str | None = MISSING
    end: str | None = MISSING
    every_days: int | None = MISSING
    days_after_signup: int | None = MISSING


@dataclass
class AttributeSnapshotsConfig:
    cutoff: str | None = MISSING


@dataclass
class TaskConfig:
    name: str = MISSING
    kind: str = MISSING


@dataclass
class ChurnTaskConfig(TaskConfig):
    horizon_days: int = MISSING
    lookback_days: int = MISSING
    qualifying_events: list[str] | None = MISSING
    churn_events: list[str] = MISSING
    snapshots: EventSnapshotsConfig = MISSING


@dataclass
class ConversionTaskConfig(TaskConfig):
    conversion_events: list[str] = MISSING
    horizon_days: int = MISSING
    snapshots: EventSnapshotsConfig = MISSING


@dataclass
class RepurchaseTaskConfig(TaskConfig):
    purchase_events: list[str] = MISSING
    horizon_days: int = MISSING
    require_prior_purchase: bool = MISSING
    snapshots: EventSnapshotsConfig = MISSING


@dataclass
class AttributesTaskConfig(TaskConfig):
    label_column: str = MISSING
    positive_value: Any = MISSING
    snapshots: AttributeSnapshotsConfig = MISSING


@dataclass
class FeaturesConfig:
    """Each family is true, false or a mapping of its options (defaults in features/spec.py)."""

    as_of: str | None = MISSING
    windows: list[int] = MISSING
    purchase_events: list[str] = MISSING
    rfm: Any = MISSING
    activity: Any = MISSING
    trends: Any = MISSING
    timing: Any = MISSING
    sessions: Any = MISSING
    diversity: Any = MISSING
    funnel: Any = MISSING
    disengagement: Any = False  # on in features/default.yaml; off where a group omits it
    attributes: Any = MISSING
    clv: Any = False


@dataclass
class ModelConfig:
    kind: str = MISSING
    search_space: dict[str, dict[str, Any]] = MISSING


@dataclass
class LightGBMArguments:
    """LightGBMEstimator's keyword arguments (a blend's LightGBM part takes them as they are)."""

    n_estimators: int = MISSING
    early_stopping_rounds: int = MISSING
    class_weight: str | None = MISSING
    monotone_constraints: dict[str, int] = MISSING
    report_every: int = MISSING
    n_jobs: int = MISSING
    seed: int = MISSING
    base_params: dict[str, Any] = MISSING


@dataclass
class LightGBMEstimatorConfig(LightGBMArguments):
    _target_: str = MISSING


@dataclass
class LightGBMModelConfig(ModelConfig):
    estimator: LightGBMEstimatorConfig = MISSING


@dataclass
class LogisticArguments:
    """LogisticEstimator's keyword arguments but ``params`` (tuned unless in a blend)."""

    class_weight: str | None = MISSING
    log1p: bool = MISSING
    solver: str = MISSING
    max_iter: int = MISSING
    seed: int = MISSING


@dataclass
class LogisticEstimatorConfig(LogisticArguments):
    _target_: str = MISSING


@dataclass
class LogisticModelConfig(ModelConfig):
    estimator: LogisticEstimatorConfig = MISSING


@dataclass
class BlendLinearArguments(LogisticArguments):
    """The blend's logistic part: fixed ``params``, since tuning searches LightGBM's space."""

    params: dict[str, Any] = MISSING


@dataclass
class BlendEstimatorConfig:
    _target_: str = MISSING
    weights: list[float] = MISSING
    boosting: LightGBMArguments = MISSING
    linear: BlendLinearArguments = MISSING


@dataclass
class BlendModelConfig(ModelConfig):
    estimator: BlendEstimatorConfig = MISSING


@dataclass
class SplitConfig:
    kind: str = MISSING
    calibration_share: float = MISSING
    seed: int = MISSING


@dataclass
class OutOfTimeSplitConfig(SplitConfig):
    snapshots: str = MISSING
    n_valid_cutoffs: int = MISSING
    n_test_cutoffs: int = MISSING
    gap_cutoffs: int = MISSING
    held_out_fraction: float = MISSING
    valid_share: float = MISSING
    test_share: float = MISSING
    horizon_days: int | None = MISSING
    salt: str = MISSING


@dataclass
class CustomerCVSplitConfig(SplitConfig):
    n_folds: int = MISSING
    tuning_fraction: float = MISSING
    valid_fraction: float = MISSING


@dataclass
class TuningConfig:
    """Sampler and pruner are ``_target_`` blocks with the class's own keyword arguments."""

    n_trials: int = MISSING
    fresh: bool = MISSING
    timeout: float | None = MISSING
    direction: str = MISSING
    show_progress_bar: bool = MISSING
    sampler: dict[str, Any] = MISSING
    pruner: dict[str, Any] | None = MISSING
    heartbeat_interval: int | None = MISSING
    grace_period: int | None = MISSING
    inner_folds: int = MISSING
    enqueue_defaults: bool = MISSING
    first_trials: dict[str, Any] = MISSING
    fit_space_to_rows: bool = MISSING


@dataclass
class TrackingConfig:
    """Where runs and the registry live, and where training keeps its Optuna studies."""

    tracking_uri: str = MISSING
    artifact_location: str = MISSING
    experiment_name: str = MISSING
    heartbeat_seconds: float = MISSING
    stale_after_minutes: float | None = MISSING
    optuna_storage: str = MISSING


@dataclass
class GateConfig:
    metric: str = MISSING
    margin: float = MISSING
    alpha: float = MISSING
    guards: dict[str, float] = MISSING
    floor: float = MISSING
    n_boot: int = MISSING
    seed: int = MISSING
    holdout_fraction: float = MISSING
    salt: str = MISSING


@dataclass
class RegistryConfig:
    model_name: str = MISSING
    register: bool = MISSING
    promote_after_training: bool = MISSING
    gate: GateConfig = MISSING


@dataclass
class EngineConfig:
    """Where features and labels run: DuckDB in process, or Spark (see engines.py)."""

    kind: str = MISSING
    threads: int | None = None
    memory_limit: str | None = None
    temp_directory: str | None = None
    master: str | None = None
    app_name: str | None = None
    conf: dict[str, Any] | None = None


GROUP_SCHEMAS: dict[str, dict[str, type]] = {
    "paths": {"base_paths": PathsConfig},
    "data": {"base_data": DataConfig},
    "task": {
        "base_churn": ChurnTaskConfig,
        "base_conversion": ConversionTaskConfig,
        "base_repurchase": RepurchaseTaskConfig,
        "base_attributes": AttributesTaskConfig,
    },
    "features": {"base_features": FeaturesConfig},
    "model": {
        "base_lightgbm": LightGBMModelConfig,
        "base_logistic": LogisticModelConfig,
        "base_blend": BlendModelConfig,
    },
    "split": {"base_out_of_time": OutOfTimeSplitConfig, "base_customer_cv": CustomerCVSplitConfig},
    "tuning": {"base_tuning": TuningConfig},
    "tracking": {"base_tracking": TrackingConfig},
    "registry": {"base_registry": RegistryConfig},
    "engine": {"base_engine": EngineConfig},
}
