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
class AnalysisConfig:
    rfm: RfmAnalysisConfig | None = None
    cohorts: CohortsAnalysisConfig | None = None
    funnel: FunnelAnalysisConfig | None = None
    clusters: ClustersAnalysisConfig | None = None
