"""Optuna studies that live in RDB storage, so a rerun resumes and only runs what is missing.

A study is named from what it tunes (see ``study_identity``), so only a rerun of the same
problem resumes it; anything else opens a study of its own.
"""

import contextlib
import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import optuna
import sqlalchemy
from hydra.utils import instantiate
from sqlalchemy.pool import NullPool

from behaviorlab.errors import ConfigError
from behaviorlab.locks import sqlite_creation_lock, sqlite_lock
from behaviorlab.processes import (
    host_name,
    process_alive,
    process_start_time,
    stops_held,
    stops_released,
)

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
CLAIMED = (*FINISHED, optuna.trial.TrialState.RUNNING)  # what a new trial counts against
TrialCallback = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]
IDENTITY_LENGTH = 12
OWNER_ATTR = "owner"
OWNER_STARTED_ATTR = "owner_started"  # the owner process's start time: pids are reused
FIRST_TRIAL_ATTR = "first_trial"  # names an enqueued configuration: defaults, regularised
DEFAULTS = "defaults"
# LightGBM's own values for the two ranges that bound each other when a space is fitted
# to a table's size (a space without one of them leaves it at the library default).
LIBRARY_DEFAULTS = {"num_leaves": 31, "min_child_samples": 20}


def study_identity(
    *,
    data_fingerprint: str,
    task: Mapping[str, Any],
    features: Mapping[str, Any],
    split: Mapping[str, Any],
    model: Mapping[str, Any],
    permute_labels: bool,
    seed: int,
    gate_holdout_fraction: float | None,
    gate_salt: str | None,
    code_version: str,
    training_sample: Mapping[str, Any] | None = None,
    tuning: Mapping[str, Any] | None = None,
) -> str:
    """Short hash of everything that decides which trials a study holds and what they mean.

    Two trainings share a study (and so its trials and best parameters) only when the data,
    the resolved task, features, split and model (estimator and search space), the label
    permutation, the seed, the gate's holdout rows, the training sample, how trials are
    scored and started (inner folds, enqueued configurations, the space's fit to the table)
    and the code that builds features and scores trials are all the same.
    """
    components = {
        "data_fingerprint": data_fingerprint,
        "task": task,
        "features": features,
        "split": split,
        "model": model,
        "permute_labels": bool(permute_labels),
        "seed": seed,
        "gate_holdout_fraction": gate_holdout_fraction,
        "gate_salt": gate_salt,
        "code_version": code_version,
        "training_sample": dict(training_sample or {}),
        "tuning": dict(tuning or {}),
    }
    text = json.dumps(components, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:IDENTITY_LENGTH]


def study_name(prefix: str, identity: str, fresh_at: datetime | None = None) -> str:
    """``<prefix>-<identity>``; a fresh study adds its UTC start so the old one stays intact."""
    name = f"{prefix}-{identity}"
    if fresh_at is None:
        return name
    return f"{name}-fresh-{fresh_at.astimezone(UTC).strftime('%Y%m%dT%H%M%S%fZ')}"


def suggest_one(trial: optuna.Trial, name: str, spec: Mapping[str, Any]) -> Any:
    """One value from a ``{type, low, high, log, step, choices}`` spec."""
    kind = spec.get("type")
    if kind == "float":
        return trial.suggest_float(name, spec["low"], spec["high"], log=spec.get("log", False))
    if kind == "int":
        return trial.suggest_int(
            name, spec["low"], spec["high"], step=spec.get("step", 1), log=spec.get("log", False)
        )
    if kind == "categorical":
        return trial.suggest_categorical(name, list(spec["choices"]))
    raise ConfigError(f"search space entry {name!r} has unknown type {kind!r}")


def suggest_params(trial: optuna.Trial, space: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Sample every hyperparameter of a search space written as data in the model config."""
    return {name: suggest_one(trial, name, spec) for name, spec in (space or {}).items()}


def fit_space_to_rows(
    space: Mapping[str, Mapping[str, Any]], n_rows: int
) -> dict[str, dict[str, Any]]:
    """The space with ``num_leaves`` and ``min_child_samples`` capped at what ``n_rows``
    training rows can fill, so a small table does not search trees it cannot grow.

    A tree of ``num_leaves`` leaves of at least ``min_child_samples`` rows needs their
    product in rows; with bagging and feature sampling, keep it within half the rows:
    ``num_leaves.high <= n_rows / (2 * min_child_samples.low)`` and
    ``min_child_samples.high <= n_rows / (2 * num_leaves.low)``. A cap never goes below
    the range's low end; other parameters are left as they are.
    """
    fitted = {name: dict(spec) for name, spec in (space or {}).items()}
    for name, partner in (("num_leaves", "min_child_samples"), ("min_child_samples", "num_leaves")):
        if name not in fitted:
            continue
        partner_low = fitted.get(partner, {}).get("low", LIBRARY_DEFAULTS[partner])
        spec = fitted[name]
        cap = n_rows // (2 * max(int(partner_low), 1))
        spec["high"] = max(spec["low"], min(spec["high"], cap))
    return fitted


def clip_to_space(
    params: Mapping[str, Any], space: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """A configuration moved into the search space: numbers clipped to their range (whole
    for ``int``), names the space does not tune dropped; a categorical value must be one
    of its choices."""
    clipped = {}
    for name, value in params.items():
        spec = space.get(name)
        if spec is None:
            continue
        if spec.get("type") == "categorical":
            if value not in list(spec["choices"]):
                raise ConfigError(
                    f"tuning.first_trials: {name}={value!r} is not one of the search space's "
                    f"choices {list(spec['choices'])}"
                )
            clipped[name] = value
            continue
        inside = min(max(value, spec["low"]), spec["high"])
        clipped[name] = round(inside) if spec.get("type") == "int" else float(inside)
    return clipped


def enqueue_first_trials(
    study: optuna.Study,
    configurations: Mapping[str, Mapping[str, Any]],
    space: Mapping[str, Mapping[str, Any]],
) -> int:
    """Queue named configurations (the library defaults, a regularised one) as the first
    trials of a new study, so tuning is measured against them; returns how many.

    A study that already holds trials is resumed and gets nothing: its first trials ran
    (or are queued) already, and queueing them again would spend the budget twice. The
    study's lock makes this once per study when several workers start together.
    """
    with StudyLock.of(study):
        if study.get_trials(deepcopy=False):
            return 0
        for name, params in configurations.items():
            study.enqueue_trial(clip_to_space(params, space), user_attrs={FIRST_TRIAL_ATTR: name})
    return len(configurations)


def first_trial(study: optuna.Study, name: str) -> optuna.trial.FrozenTrial | None:
    """The completed trial of the enqueued configuration ``name``, if the study has one."""
    for trial in completed_trials(study):
        if trial.user_attrs.get(FIRST_TRIAL_ATTR) == name:
            return trial
    return None


def compare_with_defaults(study: optuna.Study) -> dict[str, Any]:
    """The best trial against the defaults' trial on the objective (validation ROC AUC).

    Empty when the study has no completed defaults trial. ``kept_defaults`` is true when
    no trial beat the defaults: the defaults' parameters are then the ones to keep.
    """
    defaults = first_trial(study, DEFAULTS)
    if defaults is None:
        return {}
    gain = float(study.best_value - defaults.value)
    return {
        "defaults_value": float(defaults.value),
        "best_value": float(study.best_value),
        "gain_over_defaults": gain,
        "kept_defaults": gain <= 0,
        "defaults_params": dict(defaults.params),
    }


def count_finished(study: optuna.Study) -> int:
    """Trials that count towards the budget: completed or pruned (failed ones are retried)."""
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def make_storage(storage_url: str, cfg: Mapping[str, Any]) -> optuna.storages.RDBStorage:
    """RDB storage; with a heartbeat, trials of a killed process are marked FAIL on resume.

    A running trial whose heartbeat is older than ``grace_period`` seconds is failed by the
    next ``optimize`` call, so it no longer shows as RUNNING forever. Optuna flags the
    heartbeat as experimental; it is used deliberately, so that warning is silenced here.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            storage_url,
            heartbeat_interval=cfg["heartbeat_interval"],
            grace_period=cfg["grace_period"],
        )


def open_study(storage_url: str, study_name: str, cfg: Mapping[str, Any]) -> optuna.Study:
    """Create the study or load it to resume; the sampler seed moves on with each resume.

    A resumed study re-seeded with the same seed would replay its first random trials, so
    the seed is offset by the number of trials already stored. Creation runs under a lock
    so that workers starting together on a fresh SQLite storage do not race.
    """
    with sqlite_creation_lock(storage_url):
        study = optuna.create_study(
            storage=make_storage(storage_url, cfg),
            study_name=study_name,
            direction=cfg["direction"],
            pruner=instantiate(cfg["pruner"]) if cfg["pruner"] else None,
            load_if_exists=True,
        )
    sampler_cfg = dict(cfg["sampler"])
    seed = sampler_cfg.pop("seed", None)
    offset = len(study.get_trials(deepcopy=False))
    study.sampler = instantiate(sampler_cfg, seed=None if seed is None else seed + offset)
    return study


class StudyLock:
    """The lock of one study, shared by every process that tunes it (re-entrant use is not
    supported): held while a process counts the study's trials and starts one, so that
    several workers together start exactly the budget.

    SQLite: a lock file beside the database. PostgreSQL: a session advisory lock keyed by
    the study's name, on a connection of its own (ended with the process if it dies).
    """

    def __init__(self, storage_url: str, study_name: str):
        self.storage_url = storage_url
        self.dialect = sqlalchemy.engine.make_url(storage_url).get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise ConfigError(
                f"tracking.optuna_storage: a {self.dialect} storage cannot share a study's "
                "trial budget between workers; use SQLite or PostgreSQL"
            )
        digest = hashlib.sha256(study_name.encode()).digest()
        self.key = int.from_bytes(digest[:8], "big", signed=True)
        self.held = contextlib.ExitStack()

    @classmethod
    def of(cls, study: optuna.Study) -> "StudyLock":
        """The lock of a study opened on an RDB storage. Optuna keeps the storage on the
        study (wrapped in its cache) without a public accessor; the pinned version is
        tested."""
        storage = study._storage
        return cls(getattr(storage, "_backend", storage).url, study.study_name)

    def __enter__(self) -> "StudyLock":
        if self.dialect == "sqlite":
            self.held.enter_context(sqlite_lock(self.storage_url, "trials.lock"))
        else:
            self.held.enter_context(self.advisory_lock())
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def release(self) -> None:
        """Let the other workers in; releasing twice is harmless."""
        self.held.close()

    @contextlib.contextmanager
    def advisory_lock(self) -> Iterator[None]:
        engine = sqlalchemy.create_engine(self.storage_url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                connection.execute(
                    sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": self.key}
                )
                yield
        finally:
            engine.dispose()


class TrialCounter:
    """Counts the trials this process finished; another worker's trials in a shared study
    are neither reused nor run by this job, so they must not be reported as its own."""

    def __init__(self):
        self.finished = 0

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        """Count a trial that ended COMPLETE or PRUNED."""
        if trial.state in FINISHED:
            self.finished += 1


def run_study(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], float],
    cfg: Mapping[str, Any],
    callbacks: Sequence[TrialCallback] = (),
) -> optuna.Study:
    """Run trials until the study holds ``n_trials`` finished ones, or ``timeout`` seconds.

    Several workers may share the study: each starts a trial only while, under the study's
    lock, the finished and running trials number fewer than ``n_trials``, so together they
    finish exactly the budget (a running trial whose process is gone does not count; see
    ``fail_abandoned_trials``). A process starts at most as many trials as were missing
    when it began, so failing trials end a job rather than loop. A job stopped by a signal
    fails the trials it was running before the stop goes on up. A stop that comes while
    Optuna creates, claims or records a trial waits until that is written (a stop cutting
    an SQLite write in half left the study locked); the objective itself can be stopped.
    """
    n_trials = int(cfg["n_trials"])
    lock = StudyLock.of(study)
    owner = f"{host_name()}:{os.getpid()}"
    started = datetime.now()
    deadline = None if cfg["timeout"] is None else time.monotonic() + float(cfg["timeout"])
    progress = ProgressBar(study, n_trials) if cfg["show_progress_bar"] else None
    try:
        for _ in range(n_trials - count_finished(study)):
            if deadline is not None and time.monotonic() >= deadline:
                break
            with lock, stops_held():
                fail_abandoned_trials(study)
                if len(study.get_trials(deepcopy=False, states=CLAIMED)) >= n_trials:
                    break
                study.optimize(
                    claimed_by(owner, objective, lock),
                    n_trials=1,
                    callbacks=[*callbacks, *([progress] if progress else [])],
                )
    except KeyboardInterrupt:
        fail_interrupted_trials(study, owner, started)
        raise
    finally:
        if progress:
            progress.bar.close()
    return study


def claimed_by(owner: str, objective: Callable[[optuna.Trial], float], lock: StudyLock):
    """The objective, with each trial recording which process runs it before the study's
    lock lets the other workers count it."""
    owner_started = process_start_time(os.getpid())

    def run(trial: optuna.Trial) -> float:
        trial.set_user_attr(OWNER_ATTR, owner)
        trial.set_user_attr(OWNER_STARTED_ATTR, owner_started)
        lock.release()
        with stops_released():
            return objective(trial)

    return run


def fail_abandoned_trials(study: optuna.Study) -> None:
    """Mark FAIL the RUNNING trials whose process is gone, so they free their place in the
    budget: on this host, by the owner's pid and start time; from any host, by a heartbeat
    older than the storage's grace period (Optuna's experimental heartbeat, used
    deliberately as in ``make_storage``); and a trial without an owner, whose process died
    between creating it and claiming it. Called under the study's lock, inside which a
    live worker creates and claims a trial, so an unclaimed one is never a live worker's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    here = host_name()
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        host, _, pid = str(trial.user_attrs.get(OWNER_ATTR, "")).rpartition(":")
        started = trial.user_attrs.get(OWNER_STARTED_ATTR)
        gone = host == here and pid.isdigit() and not process_alive(int(pid), started)
        if gone or OWNER_ATTR not in trial.user_attrs:
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)


class ProgressBar:
    """A progress bar over the study's budget, moved on by each trial this process ends."""

    def __init__(self, study: optuna.Study, n_trials: int):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=n_trials, initial=count_finished(study), desc="trials")

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.bar.update()


def fail_interrupted_trials(study: optuna.Study, owner: str, started: datetime) -> None:
    """Mark FAIL the RUNNING trials this process left: those it owns, and those it created
    but was stopped in before the objective recorded the owner (or while Optuna was
    writing their result). Another worker's trials carry their own owner and are kept."""
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        mine = trial.user_attrs.get(OWNER_ATTR) == owner
        unclaimed = OWNER_ATTR not in trial.user_attrs and trial.datetime_start >= started
        if mine or unclaimed:
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)


def completed_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Trials with a value, in order."""
    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


def trials_table(study: optuna.Study):
    """One row per trial: number, state, validation ROC AUC (the objective), params, durations."""
    table = study.trials_dataframe(
        attrs=("number", "state", "value", "params", "duration", "user_attrs")
    )
    return table.rename(columns={"value": "val_roc_auc"})
