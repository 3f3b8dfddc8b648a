"""Schemas of the analysis group: each analysis file fills one optional section.

``analysis=rfm`` sets only ``rfm``; the sections left None are the analyses not chosen.
Data-set presets and the behaviour comparison are free-form mappings read by the analyses.
"""

from dataclasses import dataclass
from typing import Any

from omegaconf import MISSING


@dataclass
class RfmAnalysisConfig:
    cutoff: str | None = MISSING
    purchase_event: str = MISSING
    segments: dict[int, list[str]] = MISSING


@dataclass
class CohortsAnalysisConfig:
    anchor: str = MISSING
    anchor_event: str | None = MISSING
    period: str = MISSING
    returning_event: str | None = MISSING
    max_periods: int = MISSING
    behaviour: dict[str, Any] | None = MISSING
    presets: dict[str, Any] = MISSING


@dataclass
class FunnelAnalysisConfig:
    steps: list[Any] | None = MISSING
    window: str | None = MISSING
    ordering: str = MISSING
    unit: str = MISSING
    breakdown: Any = MISSING
    purchase_event: str = MISSING
    presets: dict[str, Any] = MISSING


@dataclass
class ClustersAnalysisConfig:
    method: str = MISSING
    k: int | None = MISSING
    k_range: list[int] = MISSING
    seed: int = MISSING
    stability_seeds: int = MISSING
    sample: int = MISSING
    sample_size: int = MISSING
    feature_spec: dict[str, Any] = MISSING
    features: list[str] | None = MISSING
    truth_column: str = MISSING


@dataclass
class ClvAnalysisConfig:
    cutoff: str | None = MISSING
    purchase_event: str = MISSING
    transactions_model: str = MISSING
    alive_model: str | None = MISSING
    penalizer: float = MISSING
    horizon_days: int = MISSING
    months: int = MISSING
    monthly_discount: float = MISSING
    margin: float = MISSING
    value_shares: list[float] = MISSING
    alive_threshold: float = MISSING
    holdout_days: int | None = MISSING


@dataclass
class OutcomeConfig:
    kind: str = MISSING
    events: list[str] = MISSING
    days: int = MISSING


@dataclass
class LiftAnalysisConfig:
    outcome: OutcomeConfig = MISSING
    control: str = MISSING
    alpha: float = MISSING
    expected_split: dict[str, float] | None = MISSING
    srm_alpha: float = MISSING
    correction: str = MISSING
    segments: list[str] = MISSING
    segments_path: str | None = MISSING
    min_segment_size: int = MISSING
    purchase_event: str = MISSING
    rfm_grid: dict[int, list[str]] | None = MISSING
    bootstrap_resamples: int = MISSING
    seed: int = MISSING
    cuped: bool = MISSING
    cuped_covariate: str | None = MISSING


@dataclass
class PowerAnalysisConfig:
    outcome: OutcomeConfig = MISSING
    alpha: float = MISSING
    power: float = MISSING
    ratio: float = MISSING
    baseline: float | None = MISSING
    baseline_std: float | None = MISSING
    lookback_days: int = MISSING
    n_per_group: list[int] = MISSING
    effects: list[float] = MISSING


@dataclass
class AnalysisConfig:
    rfm: RfmAnalysisConfig | None = None
    cohorts: CohortsAnalysisConfig | None = None
    funnel: FunnelAnalysisConfig | None = None
    clusters: ClustersAnalysisConfig | None = None
    clv: ClvAnalysisConfig | None = None
    lift: LiftAnalysisConfig | None = None
    power: PowerAnalysisConfig | None = None
