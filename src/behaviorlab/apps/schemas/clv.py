"""Schema of behaviorlab-clv's primary config: the models, the value settings, the holdout
check and where the fitted model is registered."""

from dataclasses import dataclass

from omegaconf import MISSING

from behaviorlab.apps.schemas.groups import DataConfig, EngineConfig, PathsConfig, TrackingConfig


@dataclass
class ClvConfig:
    transactions_model: str = MISSING
    penalizer: float = MISSING
    spend_penalizer: float = MISSING
    purchase_events: list[str] = MISSING
    cutoff: str | None = MISSING
    holdout_days: int | None = MISSING
    horizon_days: int = MISSING
    months: int = MISSING
    monthly_discount: float = MISSING
    margin: float = MISSING
    registered_model: str = MISSING
    alias: str | None = MISSING
    run_name: str = MISSING
    experiment_name: str = MISSING
    paths: PathsConfig = MISSING
    data: DataConfig = MISSING
    tracking: TrackingConfig = MISSING
    engine: EngineConfig = MISSING
