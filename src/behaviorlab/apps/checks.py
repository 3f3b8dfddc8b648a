"""Config values checked before any work: one rule per key, the first failing key reported.

The schemas (apps/schemas/) already refuse misspelt keys and wrong types at compose time;
these rules refuse values out of range (a zero chunk size, a fraction of 1.5, a date that
does not parse, an output path that cannot be written) before data is read or a tracking
run opens, so a bad value costs a second and leaves nothing behind. Each check is pure and
cheap: it returns what is wrong with the value (completing "<key> ...") or None.

A rule whose key a config does not have (a split kind's keys under another kind, an
analysis not chosen) is skipped. A rule on a section receives the whole section, for
values that must agree (start before end, shares that leave rows for training); the empty
key stands for the whole config.
"""

import os
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, ListConfig, OmegaConf

from behaviorlab.analysis.clusters import METHODS as CLUSTER_METHODS
from behaviorlab.analysis.cohorts import ANCHORS as COHORT_ANCHORS
from behaviorlab.analysis.cohorts import PERIODS as COHORT_PERIODS
from behaviorlab.analysis.experiment import COVARIATES
from behaviorlab.analysis.funnels import ORDERINGS as FUNNEL_ORDERINGS
from behaviorlab.analysis.funnels import UNITS as FUNNEL_UNITS
from behaviorlab.analysis.lift import CORRECTIONS
from behaviorlab.analysis.outcomes import KINDS as OUTCOME_KINDS
from behaviorlab.errors import ConfigError
from behaviorlab.modeling.clv import TRANSACTIONS_MODELS as CLV_MODELS

Check = Callable[[Any], str | None]
Rules = Mapping[str, Check]
ABSENT = object()
SCORE_SUFFIXES = (".parquet", ".csv")


def check_config(cfg: DictConfig, rules: Rules) -> None:
    """Raise a ConfigError naming the first key whose value breaks its rule."""
    for key, check in rules.items():
        value = OmegaConf.select(cfg, key, default=ABSENT)
        if value is ABSENT:
            continue
        if isinstance(value, DictConfig | ListConfig):
            value = OmegaConf.to_container(value, resolve=True)
        problem = check(value)
        if problem:
            raise ConfigError(f"{key} {problem}" if key else problem)


def check_reason_tiers(reason_tiers: list[str], tiers: Mapping[str, float]) -> None:
    """Scoring asks reasons only for tiers the model names (known once the model is loaded)."""
    problem = reason_tiers_known({"tiers": tiers, "reason_tiers": reason_tiers})
    if problem:
        raise ConfigError(problem)


# Single values


def is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def integer(at_least: int) -> Check:
    """A whole number no smaller than ``at_least``."""

    def check(value: Any) -> str | None:
        if not is_integer(value) or value < at_least:
            return f"must be an integer >= {at_least}, got {value!r}"
        return None

    return check


def number(low: float, high: float | None = None, *, low_open=False, high_open=False) -> Check:
    """A number in an interval; ``high=None`` leaves it unbounded above."""
    if high is None:
        wanted = f"{'>' if low_open else '>='} {low:g}"
    else:
        wanted = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def check(value: Any) -> str | None:
        inside = is_number(value) and (value > low if low_open else value >= low)
        if inside and high is not None:
            inside = value < high if high_open else value <= high
        return None if inside else f"must be a number {wanted}, got {value!r}"

    return check


def fraction(value: Any) -> str | None:
    """A share of rows or customers: both sides must keep some."""
    return number(0, 1, low_open=True, high_open=True)(value)


def optional(check: Check) -> Check:
    """The check, or null."""
    return lambda value: None if value is None else check(value)


def one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in choices else f"must be one of {list(choices)}, got {value!r}"

    return check


def parse_date(value: Any) -> pd.Timestamp | None:
    """The timestamp a config value names, or None when it names none."""
    if value is None or isinstance(value, bool):
        return None
    try:
        stamp = pd.Timestamp(str(value))
    except (TypeError, ValueError, OverflowError):
        return None
    return None if pd.isna(stamp) else stamp


def date(value: Any) -> str | None:
    if parse_date(value) is None:
        return f"must be a date such as 2025-05-01, got {value!r}"
    return None


def dates(value: Any) -> str | None:
    """A non-empty list of dates."""
    if not isinstance(value, list) or not value:
        return f"must be a non-empty list of dates, got {value!r}"
    bad = [item for item in value if parse_date(item) is None]
    return f"must hold dates such as 2025-05-01, got {bad[0]!r}" if bad else None


def duration(at_least_zero: bool = False) -> Check:
    """A pandas duration string such as ``7 days`` or ``1d``: positive, or >= 0."""

    def check(value: Any) -> str | None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pandas deprecates the `1d` spelling, not `1D`
                length = pd.Timedelta(str(value))
        except (TypeError, ValueError):
            length = pd.NaT
        fine = not pd.isna(length) and (
            length >= pd.Timedelta(0) if at_least_zero else length > pd.Timedelta(0)
        )
        if fine:
            return None
        bound = ">= 0" if at_least_zero else "> 0"
        return f"must be a duration {bound} such as '7 days', got {value!r}"

    return check


def each(check: Check, at_least: int = 0) -> Check:
    """A list with at least ``at_least`` items, each passing ``check``."""

    def check_all(value: Any) -> str | None:
        if not isinstance(value, list) or len(value) < at_least:
            return f"must be a list of at least {at_least} values, got {value!r}"
        for item in value:
            problem = check(item)
            if problem:
                return f"item {problem}"
        return None

    return check_all


def each_value(check: Check) -> Check:
    """Every value of a mapping passes ``check``."""

    def check_all(value: Any) -> str | None:
        for name, item in (value or {}).items():
            problem = check(item)
            if problem:
                return f"entry {name!r} {problem}"
        return None

    return check_all


# Paths


def unwritable(folder: Path) -> str | None:
    """Why files cannot be created in ``folder`` (made if absent), or None."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"cannot be created: {existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot be written: {existing} is not writable"
    return None


def output_file(*suffixes: str) -> Check:
    """A file path the app can write: a known suffix, not a folder, in a writable folder."""

    def check(value: Any) -> str | None:
        path = Path(str(value))
        if suffixes and path.suffix not in suffixes:
            return f"must end in {' or '.join(suffixes)}, got {str(value)!r}"
        if path.is_dir():
            return f"is a folder ({path}); give a file path"
        if path.exists() and not os.access(path, os.W_OK):
            return f"cannot be written: {path} is read-only"
        return unwritable(path.parent)

    return check


def output_folder(value: Any) -> str | None:
    """A folder the app can create or write into."""
    path = Path(str(value))
    if path.exists() and not path.is_dir():
        return f"is a file ({path}); give a folder"
    return unwritable(path)


def existing_file(value: Any) -> str | None:
    path = Path(str(value))
    return None if path.is_file() else f"names no file: {path}"


# Sections whose values must agree


def start_not_after_end(section: Any) -> str | None:
    start, end = parse_date(section.get("start")), parse_date(section.get("end"))
    if start is not None and end is not None and start > end:
        return f"start {start.date()} must not be after end {end.date()}"
    return None


def start_before_end(section: Any) -> str | None:
    start, end = parse_date(section.get("start")), parse_date(section.get("end"))
    if start is not None and end is not None and start >= end:
        return f"start {start.date()} must be before end {end.date()} (end is exclusive)"
    return None


def snapshots(section: Any) -> str | None:
    """Each snapshot kind has what it needs; a calendar grid runs forward in time."""
    kind = section.get("kind")
    if kind == "relative" and section.get("days_after_signup") is None:
        return "kind relative needs days_after_signup (days after signup, >= 0)"
    if kind == "calendar" and not section.get("cutoffs") and section.get("end") is None:
        return "kind calendar needs cutoffs, or end (with start and every_days for a grid)"
    return start_not_after_end(section)


def shares_leave_training(section: Any) -> str | None:
    valid, test = section.get("valid_share"), section.get("test_share")
    if is_number(valid) and is_number(test) and valid + test >= 1:
        return f"valid_share + test_share ({valid} + {test}) must be below 1 to leave training rows"
    return None


def tiers(value: Any) -> str | None:
    """Thresholds: probabilities in [0, 1], no two alike (a tier is the highest reached).
    Capacity: shares in [0, 1] adding up to at most 1."""
    mode = (value or {}).get("mode", "thresholds")
    if mode not in ("thresholds", "capacity"):
        return f"mode must be thresholds or capacity, got {mode!r}"
    levels = {k: v for k, v in value.items() if k != "mode" and v is not None}
    if not levels:
        return "must name at least one tier with its threshold, e.g. {high: 0.8}"
    word = "share" if mode == "capacity" else "threshold"
    for name, threshold in levels.items():
        if not is_number(threshold) or not 0 <= threshold <= 1:
            return f"{word} of tier {name!r} must be in [0, 1], got {threshold!r}"
    if mode == "capacity" and sum(levels.values()) > 1:
        return f"shares of the capacity tiers must add up to at most 1, got {levels}"
    if mode == "thresholds" and len(set(levels.values())) < len(levels):
        return f"must give each tier its own threshold (they order the tiers), got {levels}"
    return None


def reason_tiers_known(section: Any) -> str | None:
    """Reasons go to tiers that exist (the named ones, or `low` below them all)."""
    named = section.get("tiers") or {}
    known = [*(k for k, v in named.items() if k != "mode" and v is not None), "low"]
    unknown = [name for name in section.get("reason_tiers") or [] if name not in known]
    if unknown:
        return f"reason_tiers names unknown tiers {unknown}; tiers are {known}"
    return None


def search_space(value: Any) -> str | None:
    """Every tuned parameter has a type and a range Optuna can sample from."""
    for name, spec in (value or {}).items():
        kind = spec.get("type")
        if kind == "categorical":
            if not spec.get("choices"):
                return f"entry {name!r} needs non-empty choices"
            continue
        if kind not in ("int", "float"):
            return f"entry {name!r} has type {kind!r}; use int, float or categorical"
        low, high = spec.get("low"), spec.get("high")
        if not (is_number(low) and is_number(high) and low <= high):
            return f"entry {name!r} needs numbers low <= high, got low={low!r} high={high!r}"
        if spec.get("log") and low <= 0:
            return f"entry {name!r} is sampled on a log scale, so low must be > 0, got {low!r}"
    return None


def model_reference(value: Any) -> str | None:
    """`name@alias`, `name/version` or `name` (its champion)."""
    text = str(value)
    if "@" in text:
        name, alias = text.split("@", 1)
        fine = bool(name) and bool(alias)
    elif "/" in text:
        name, version = text.rsplit("/", 1)
        fine = bool(name) and version.isdigit() and int(version) >= 1
    else:
        fine = bool(text)
    if fine:
        return None
    return f"must be name@alias, name/version (a number >= 1) or name, got {text!r}"


def event_name(value: Any) -> str | None:
    return None if isinstance(value, str) and value else f"must be an event name, got {value!r}"


def model_name(value: Any) -> str | None:
    """A registered model's name: the part before `@` or `/` in a reference."""
    text = str(value or "")
    if text and "@" not in text and "/" not in text:
        return None
    return f"must be a model name without @ or /, got {text!r}"


def value_ranking(config: Any) -> str | None:
    """Capacity tiers rank by value at risk only when a CLV model values the customers."""
    if config.get("rank_by") == "value_at_risk" and not config.get("clv_model"):
        return "rank_by value_at_risk needs clv_model (a registered CLV model, e.g. clv-sim)"
    return None


def promote_version(value: Any) -> str | None:
    text = str(value)
    if text and ("/" not in text and "@" not in text) and (not text.isdigit() or int(text) >= 1):
        return None
    return f"must be a version number >= 1, an alias or latest, got {text!r}"


def rfm_segments(value: Any) -> str | None:
    rows = {int(r) for r in value or {}}
    if rows != set(range(1, 6)) or any(len(names) != 5 for names in value.values()):
        return "must map R scores 1..5 to lists of 5 segment names (FM 1..5)"
    return None


def cohort_behaviour(value: Any) -> str | None:
    """The behavioural cohort comparison: null, or an event, a window, a period and a level."""
    if value is None:
        return None
    rules = {
        "event": lambda v: None if isinstance(v, str) and v else f"must name an event, got {v!r}",
        "within_days": number(0, low_open=True),
        "period": integer(0),
        "measure": one_of("rate", "rate_or_later"),
        "confidence": fraction,
    }
    for key, check in rules.items():
        problem = check(value.get(key))
        if problem:
            return f"{key} {problem}"
    return None


def funnel_steps(value: Any) -> str | None:
    if value is not None and (not isinstance(value, list) or len(value) < 2):
        return f"must list at least two steps, got {value!r}"
    return None


def duckdb_output(value: Any) -> str | None:
    if value is None or value.get("database") is None:
        return None
    table = value.get("table")
    if not isinstance(table, str) or not table or '"' in table:
        return f"table must be a table name, got {table!r}"
    problem = output_file()(value.get("database"))
    return f"database {problem}" if problem else None


# Rules per config section and per app

DATA_RULES: dict[str, Check] = {
    "data.validation.future_tolerance": duration(at_least_zero=True),
    "data.validation.earliest": optional(date),
    "data.validation.min_id_overlap": number(0, 1),
    "data.simulate.n_customers": integer(1),
    "data.simulate.start": date,
    "data.simulate.end": date,
    "data.simulate": optional(start_before_end),
    "data.simulate.out_dir": output_folder,
}

TRACKING_RULES: dict[str, Check] = {
    "tracking.heartbeat_seconds": number(0, low_open=True),
    "tracking.stale_after_minutes": optional(number(0, low_open=True)),
}

TASK_RULES: dict[str, Check] = {
    "task.horizon_days": integer(1),
    "task.lookback_days": integer(1),
    "task.snapshots.kind": one_of("calendar", "relative"),
    "task.snapshots.cutoffs": optional(dates),
    "task.snapshots.start": optional(date),
    "task.snapshots.end": optional(date),
    "task.snapshots.every_days": optional(integer(1)),
    "task.snapshots.days_after_signup": optional(integer(0)),
    "task.snapshots.cutoff": optional(date),
    "task.snapshots": snapshots,
}

FEATURES_RULES: dict[str, Check] = {
    "features.as_of": optional(date),
    "features.windows": each(integer(1)),
}

MODEL_RULES: dict[str, Check] = {
    "model.estimator.n_estimators": integer(1),
    "model.estimator.early_stopping_rounds": integer(1),
    "model.estimator.report_every": integer(1),
    "model.estimator.max_iter": integer(1),
    "model.search_space": search_space,
}

SPLIT_RULES: dict[str, Check] = {
    "split.kind": one_of("out_of_time", "customer_cv"),
    "split.snapshots": one_of("calendar", "relative"),
    "split.n_valid_cutoffs": integer(1),
    "split.n_test_cutoffs": integer(1),
    "split.gap_cutoffs": integer(0),
    "split.held_out_fraction": fraction,
    "split.valid_share": fraction,
    "split.test_share": fraction,
    "split": shares_leave_training,
    "split.horizon_days": optional(integer(1)),
    "split.n_folds": integer(2),
    "split.tuning_fraction": fraction,
    "split.valid_fraction": fraction,
    "split.calibration_share": fraction,
}

TUNING_RULES: dict[str, Check] = {
    "tuning.n_trials": integer(1),
    "tuning.timeout": optional(number(0, low_open=True)),
    "tuning.direction": one_of("maximize", "minimize"),
    "tuning.heartbeat_interval": optional(integer(1)),
    "tuning.grace_period": optional(integer(1)),
    "tuning.inner_folds": integer(1),
}

GATE_RULES: dict[str, Check] = {
    "registry.gate.margin": number(0),
    "registry.gate.alpha": number(0, 0.5, low_open=True, high_open=True),
    "registry.gate.guards": each_value(number(0)),
    "registry.gate.floor": number(0, 1),
    "registry.gate.n_boot": integer(100),
    "registry.gate.holdout_fraction": fraction,
}

TRAIN_RULES: dict[str, Check] = {
    **DATA_RULES,
    **TASK_RULES,
    **FEATURES_RULES,
    **MODEL_RULES,
    **SPLIT_RULES,
    **TUNING_RULES,
    "training.sample.fraction": optional(number(0, 1, low_open=True)),
    "training.sample.max_rows": optional(integer(1)),
    "evaluation.threshold": number(0, 1),
    "evaluation.top_k_fracs": each(number(0, 1, low_open=True)),
    "evaluation.n_bins": integer(2),
    "evaluation.n_boot": integer(10),
    "evaluation.ci_level": number(0, 1, low_open=True, high_open=True),
    "explain.max_rows": integer(1),
    "explain.n_dependence": integer(0),
    "scoring.tiers": tiers,
    "scoring": reason_tiers_known,
    "scoring.n_reasons": integer(0),
    "scoring.unseen_categories": one_of("error", "missing"),
    **GATE_RULES,
    **TRACKING_RULES,
    "paths.cache_dir": output_folder,
}

SCORE_RULES: dict[str, Check] = {
    "registered_model": model_reference,
    "cutoff": optional(date),
    "window_days": optional(integer(1)),
    "chunk_size": integer(1),
    "partition_customers": integer(1),
    "psi_warn": number(0, low_open=True),
    "output.path": output_file(*SCORE_SUFFIXES),
    "output.duckdb": duckdb_output,
    "clv_model": optional(model_reference),
    "rank_by": one_of("probability", "value_at_risk"),
    "": value_ranking,
    **DATA_RULES,
    **TRACKING_RULES,
}

PROMOTE_RULES: dict[str, Check] = {
    "action": one_of("promote", "rollback"),
    "version": promote_version,
    **GATE_RULES,
    **DATA_RULES,
    **TRACKING_RULES,
}

ANALYZE_RULES: dict[str, Check] = {
    "output_dir": output_folder,
    "truth_path": optional(existing_file),
    "analysis.rfm.cutoff": optional(date),
    "analysis.rfm.segments": rfm_segments,
    "analysis.cohorts.anchor": one_of(*COHORT_ANCHORS),
    "analysis.cohorts.period": one_of(*COHORT_PERIODS),
    "analysis.cohorts.max_periods": integer(1),
    "analysis.cohorts.behaviour": cohort_behaviour,
    "analysis.funnel.steps": funnel_steps,
    "analysis.funnel.window": optional(duration()),
    "analysis.funnel.ordering": one_of(*FUNNEL_ORDERINGS),
    "analysis.funnel.unit": one_of(*FUNNEL_UNITS),
    "analysis.clusters.method": one_of(*CLUSTER_METHODS),
    "analysis.clusters.k": optional(integer(2)),
    "analysis.clusters.k_range": each(integer(2), at_least=1),
    "analysis.clusters.stability_seeds": integer(1),
    "analysis.clusters.sample_size": integer(3),
    "analysis.clusters.sample": integer(1),
    "analysis.clv.cutoff": optional(date),
    "analysis.clv.transactions_model": one_of(*CLV_MODELS),
    "analysis.clv.alive_model": optional(one_of(*CLV_MODELS)),
    "analysis.clv.penalizer": number(0),
    "analysis.clv.horizon_days": integer(1),
    "analysis.clv.months": integer(1),
    "analysis.clv.monthly_discount": number(0),
    "analysis.clv.margin": number(0, 1, low_open=True),
    "analysis.clv.value_shares": each(number(0, 1, low_open=True, high_open=True), at_least=1),
    "analysis.clv.alive_threshold": number(0, 1, low_open=True, high_open=True),
    "analysis.clv.holdout_days": optional(integer(1)),
    "analysis.lift.outcome.kind": one_of(*OUTCOME_KINDS),
    "analysis.lift.outcome.days": integer(1),
    "analysis.lift.alpha": number(0, 0.5, low_open=True, high_open=True),
    "analysis.lift.srm_alpha": number(0, 0.5, low_open=True, high_open=True),
    "analysis.lift.correction": one_of(*CORRECTIONS),
    "analysis.lift.segments_path": optional(existing_file),
    "analysis.lift.min_segment_size": integer(2),
    "analysis.lift.bootstrap_resamples": integer(100),
    "analysis.lift.cuped_covariate": optional(one_of(*COVARIATES)),
    "analysis.power.outcome.kind": one_of(*OUTCOME_KINDS),
    "analysis.power.outcome.days": integer(1),
    "analysis.power.alpha": number(0, 0.5, low_open=True, high_open=True),
    "analysis.power.power": number(0, 1, low_open=True, high_open=True),
    "analysis.power.ratio": number(0, low_open=True),
    "analysis.power.lookback_days": integer(1),
    "analysis.power.n_per_group": each(integer(2), at_least=1),
    "analysis.power.effects": each(number(0, low_open=True), at_least=1),
    **DATA_RULES,
    **TRACKING_RULES,
}

CLV_RULES: dict[str, Check] = {
    "transactions_model": one_of(*CLV_MODELS),
    "penalizer": number(0),
    "spend_penalizer": number(0),
    "purchase_events": each(event_name, at_least=1),
    "cutoff": optional(date),
    "holdout_days": optional(integer(1)),
    "horizon_days": integer(1),
    "months": integer(1),
    "monthly_discount": number(0),
    "margin": number(0, 1, low_open=True),
    "registered_model": model_name,
    **DATA_RULES,
    **TRACKING_RULES,
}

SIMULATE_RULES: dict[str, Check] = {
    "n_customers": integer(1),
    "start": date,
    "end": date,
    "": start_before_end,
    "oracle_cutoff": optional(date),
    "horizon_days": integer(1),
    "out_dir": output_folder,
    "chunk_customers": integer(1),
}


def runs_or_experiment(config: Any) -> str | None:
    """Compare names its runs one way: run ids (two or more), or an experiment to list."""
    listed, experiment = config.get("runs") or [], config.get("from_experiment")
    if listed and experiment:
        return "give runs=[...] or from_experiment=<name>, not both"
    if experiment:
        return None
    if len(listed) < 2:
        return f"runs must list at least two run ids (the first is the baseline), got {listed!r}"
    if len(set(listed)) < len(listed):
        return f"runs must not repeat a run id, got {listed!r}"
    return None


COMPARE_RULES: dict[str, Check] = {
    "": runs_or_experiment,
    "max_runs": integer(2),
    "n_boot": integer(100),
    "ci_level": fraction,
    "n_bins": integer(2),
    "output_dir": output_folder,
    **TRACKING_RULES,
}
