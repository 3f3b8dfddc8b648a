"""Search spaces as data, and studies that resume after an interruption."""

import copy
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import optuna
import pytest

from behaviorlab.errors import ConfigError
from behaviorlab.modeling.tuning import (
    OWNER_ATTR,
    TrialCounter,
    count_finished,
    fail_interrupted_trials,
    open_study,
    run_study,
    study_identity,
    study_name,
    suggest_params,
)

SPACE = {
    "num_leaves": {"type": "int", "low": 8, "high": 128, "log": True},
    "learning_rate": {"type": "float", "low": 0.01, "high": 0.2, "log": True},
    "bagging_fraction": {"type": "float", "low": 0.5, "high": 1.0},
    "l1_ratio": {"type": "categorical", "choices": [0.0, 1.0]},
}
TUNING = {
    "n_trials": 6,
    "timeout": None,
    "direction": "maximize",
    "show_progress_bar": False,
    "sampler": {"_target_": "optuna.samplers.TPESampler", "seed": 1, "n_startup_trials": 3},
    "pruner": {"_target_": "optuna.pruners.MedianPruner", "n_startup_trials": 2},
    "heartbeat_interval": None,
    "grace_period": None,
}
# A heartbeat of 1 s and a grace period of 1 s: a killed trial is failed on the next resume.
KILLED = TUNING | {
    "n_trials": 5,
    "heartbeat_interval": 1,
    "grace_period": 1,
    "sampler": {"_target_": "optuna.samplers.TPESampler", "seed": 0},
    "pruner": None,
}


def quadratic(trial: optuna.Trial) -> float:
    params = suggest_params(trial, SPACE)
    return -((params["learning_rate"] - 0.05) ** 2) - params["l1_ratio"]


def test_suggest_params_respects_the_space():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(40):
        params = suggest_params(study.ask(), SPACE)
        assert isinstance(params["num_leaves"], int)
        assert 8 <= params["num_leaves"] <= 128
        assert 0.01 <= params["learning_rate"] <= 0.2
        assert 0.5 <= params["bagging_fraction"] <= 1.0
        assert params["l1_ratio"] in (0.0, 1.0)


def test_unknown_space_type_is_a_config_error():
    study = optuna.create_study()
    with pytest.raises(ConfigError, match="unknown type"):
        suggest_params(study.ask(), {"x": {"type": "uniform", "low": 0, "high": 1}})


def test_trial_counter_counts_only_the_trials_this_job_finished(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    run_study(open_study(storage, "shared", TUNING), quadratic, TUNING | {"n_trials": 2})
    counter = TrialCounter()
    study = run_study(open_study(storage, "shared", TUNING), quadratic, TUNING, [counter])
    assert (counter.finished, count_finished(study)) == (4, 6)


def test_study_resumes_after_a_failed_trial_keeping_finished_ones(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    first = run_study(open_study(storage, "resume", TUNING), quadratic, TUNING | {"n_trials": 3})
    kept = {trial.number: trial.params for trial in first.trials}
    assert count_finished(first) == 3

    def fails_on_second_call():
        calls = []

        def objective(trial):
            calls.append(trial.number)
            if len(calls) == 2:
                raise RuntimeError("worker killed")
            return quadratic(trial)

        return objective

    with pytest.raises(RuntimeError, match="worker killed"):
        run_study(open_study(storage, "resume", TUNING), fails_on_second_call(), TUNING)
    interrupted = open_study(storage, "resume", TUNING)
    assert count_finished(interrupted) == 4
    assert interrupted.trials[-1].state == optuna.trial.TrialState.FAIL

    seen = []
    resumed = run_study(
        open_study(storage, "resume", TUNING),
        quadratic,
        TUNING,
        callbacks=[lambda study, trial: seen.append(trial.number)],
    )
    assert count_finished(resumed) == TUNING["n_trials"]
    assert len(seen) == 2
    assert {n: resumed.trials[n].params for n in kept} == kept
    assert run_study(open_study(storage, "resume", TUNING), quadratic, TUNING).trials == (
        resumed.trials
    )


def test_resumed_sampler_does_not_replay_earlier_trials(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    run_study(open_study(storage, "replay", TUNING), quadratic, TUNING | {"n_trials": 2})
    study = run_study(open_study(storage, "replay", TUNING), quadratic, TUNING | {"n_trials": 4})
    rates = [trial.params["learning_rate"] for trial in study.trials]
    assert len(set(rates)) == 4


IDENTITY = {
    "data_fingerprint": "f00d",
    "task": {"name": "churn", "horizon_days": 30, "snapshots": {"every_days": 30}},
    "features": {"windows": [7, 30], "top_events": ["login", "purchase"]},
    "split": {"kind": "out_of_time", "held_out_fraction": 0.3, "salt": "split"},
    "model": {"kind": "lightgbm", "estimator": {"_target_": "x.Y"}, "search_space": SPACE},
    "permute_labels": False,
    "seed": 7,
    "gate_holdout_fraction": 0.2,
    "gate_salt": "gate",
    "code_version": "0.1.0:abc:def",
}
CHANGED = {
    "data_fingerprint": "beef",
    "task": IDENTITY["task"] | {"horizon_days": 20},
    "features": IDENTITY["features"] | {"top_events": ["login"]},
    "split": IDENTITY["split"] | {"held_out_fraction": 0.25},
    "model": IDENTITY["model"] | {"search_space": {"num_leaves": SPACE["num_leaves"]}},
    "permute_labels": True,
    "seed": 8,
    "gate_holdout_fraction": None,
    "gate_salt": "other",
    "code_version": "0.1.0:abc:123",
}


def test_study_identity_is_stable_and_ignores_key_order():
    reordered = {key: IDENTITY[key] for key in reversed(IDENTITY)}
    reordered["task"] = dict(reversed(IDENTITY["task"].items()))
    assert study_identity(**IDENTITY) == study_identity(**reordered)
    assert study_identity(**IDENTITY) == study_identity(**copy.deepcopy(IDENTITY))


@pytest.mark.parametrize("component", sorted(CHANGED))
def test_study_identity_changes_with_each_component(component):
    assert set(CHANGED) == set(IDENTITY)
    assert study_identity(**IDENTITY | {component: CHANGED[component]}) != study_identity(
        **IDENTITY
    )


def test_missing_gate_holdout_keys_give_their_own_identity():
    missing = IDENTITY | {"gate_holdout_fraction": None, "gate_salt": None}
    assert study_identity(**missing) == study_identity(**copy.deepcopy(missing))
    assert study_identity(**missing) != study_identity(**IDENTITY)


def test_study_name_is_prefixed_and_a_fresh_one_is_distinct():
    identity = study_identity(**IDENTITY)
    assert study_name("churn-sim-lightgbm", identity) == f"churn-sim-lightgbm-{identity}"
    at = datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=UTC)
    fresh = study_name("churn-sim-lightgbm", identity, at)
    assert fresh == f"churn-sim-lightgbm-{identity}-fresh-20260301T123005123456Z"
    later = study_name("churn-sim-lightgbm", identity, at + timedelta(microseconds=1))
    assert later != fresh


KILLED_WORKER = """
import json, os, sys, time
from behaviorlab.modeling.tuning import open_study, run_study, suggest_params
space = {"x": {"type": "float", "low": 0.0, "high": 1.0}}
cfg = json.loads(sys.argv[2])

def objective(trial):
    if trial.number == 2:
        time.sleep(1.5)  # long enough for a heartbeat, then the process dies mid-trial
        os._exit(9)
    return suggest_params(trial, space)["x"]

run_study(open_study(sys.argv[1], "killed", cfg), objective, cfg)
"""


@pytest.mark.slow
def test_study_resumes_after_its_process_was_killed(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    worker = subprocess.run(
        [sys.executable, "-c", KILLED_WORKER, storage, json.dumps(KILLED)], check=False
    )
    assert worker.returncode == 9
    cfg = KILLED | {"sampler": {"_target_": "optuna.samplers.TPESampler"}}
    before = open_study(storage, "killed", cfg).trials
    assert [trial.state.name for trial in before] == ["COMPLETE", "COMPLETE", "RUNNING"]
    time.sleep(2.5)
    study = run_study(
        open_study(storage, "killed", cfg),
        lambda trial: suggest_params(trial, {"x": {"type": "float", "low": 0, "high": 1}})["x"],
        cfg,
    )
    states = [trial.state.name for trial in study.trials]
    assert states == ["COMPLETE", "COMPLETE", "FAIL", "COMPLETE", "COMPLETE", "COMPLETE"]
    assert [t.params for t in study.trials[:2]] == [t.params for t in before[:2]]


def test_a_stopped_job_fails_its_own_and_unclaimed_trials_but_not_another_workers(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = open_study(storage, "stopped", TUNING)
    before = study.ask()
    before.set_user_attr(OWNER_ATTR, "elsewhere:1")
    started = datetime.now()
    mine = study.ask()
    mine.set_user_attr(OWNER_ATTR, "here:2")
    unclaimed = study.ask()
    fail_interrupted_trials(study, "here:2", started)
    states = {trial.number: trial.state.name for trial in study.get_trials()}
    assert states == {
        before.number: "RUNNING",
        mine.number: "FAIL",
        unclaimed.number: "FAIL",
    }
