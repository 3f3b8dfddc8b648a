"""Search spaces as data, and studies that resume after an interruption."""

import subprocess
import sys
import time

import optuna
import pytest

from behaviorlab.errors import ConfigError
from behaviorlab.modeling.tuning import count_finished, open_study, run_study, suggest_params

SPACE = {
    "num_leaves": {"type": "int", "low": 8, "high": 128, "log": True},
    "learning_rate": {"type": "float", "low": 0.01, "high": 0.2, "log": True},
    "bagging_fraction": {"type": "float", "low": 0.5, "high": 1.0},
    "l1_ratio": {"type": "categorical", "choices": [0.0, 1.0]},
}
TUNING = {
    "n_trials": 6,
    "direction": "maximize",
    "sampler": {"_target_": "optuna.samplers.TPESampler", "seed": 1, "n_startup_trials": 3},
    "pruner": {"_target_": "optuna.pruners.MedianPruner", "n_startup_trials": 2},
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


KILLED_WORKER = """
import os, sys, time
from behaviorlab.modeling.tuning import open_study, run_study, suggest_params
space = {"x": {"type": "float", "low": 0.0, "high": 1.0}}
cfg = {"n_trials": 5, "heartbeat_interval": 1, "grace_period": 1,
       "sampler": {"_target_": "optuna.samplers.TPESampler", "seed": 0}}

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
    worker = subprocess.run([sys.executable, "-c", KILLED_WORKER, storage], check=False)
    assert worker.returncode == 9
    cfg = {"n_trials": 5, "heartbeat_interval": 1, "grace_period": 1}
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
