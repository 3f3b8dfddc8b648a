"""Search spaces as data, and studies that resume after an interruption."""

import copy
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import optuna
import pandas as pd
import pytest

from behaviorlab.errors import ConfigError
from behaviorlab.modeling.inner_folds import make_inner_folds
from behaviorlab.modeling.pipeline import choose_params, make_objective, tune
from behaviorlab.modeling.splits import Split, make_splits
from behaviorlab.modeling.tuning import (
    FIRST_TRIAL_ATTR,
    OWNER_ATTR,
    TrialCounter,
    count_finished,
    enqueue_first_trials,
    fail_interrupted_trials,
    fit_space_to_rows,
    open_study,
    run_study,
    study_identity,
    study_name,
    suggest_params,
)
from tests.unit.test_modeling_data import make_table

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
    "training_sample": {"fraction": None},
    "tuning": {"inner_folds": 3, "enqueue_defaults": True, "fit_space_to_rows": True},
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
    "training_sample": {"fraction": 0.5},
    "tuning": IDENTITY["tuning"] | {"inner_folds": 1},
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


def test_a_trial_left_unclaimed_by_a_killed_worker_frees_its_place_in_the_budget(tmp_path):
    """A worker killed between creating a trial and recording its owner leaves it RUNNING
    with no owner and a fresh heartbeat; the next worker, under the study's lock, fails it
    and still finishes the whole budget."""
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    cfg = TUNING | {"n_trials": 3}
    unclaimed = open_study(storage, "unclaimed", cfg).ask()
    study = run_study(open_study(storage, "unclaimed", cfg), quadratic, cfg)
    states = [trial.state.name for trial in study.trials]
    assert states[unclaimed.number] == "FAIL"
    assert count_finished(study) == 3
    assert states.count("RUNNING") == 0


FIRST = {
    "defaults": {"num_leaves": 31, "learning_rate": 0.1, "bagging_fraction": 1.0, "lambda_l1": 0.0},
    "regularised": {"num_leaves": 300, "learning_rate": 0.001, "l1_ratio": 1.0},
}


def test_a_new_study_runs_the_enqueued_configurations_first_clipped_into_the_space(tmp_path):
    study = open_study(f"sqlite:///{tmp_path / 'optuna.db'}", "first", TUNING)
    assert enqueue_first_trials(study, FIRST, SPACE) == 2
    run_study(study, quadratic, TUNING)
    first, second = study.trials[:2]
    # lambda_l1 is not tuned here, so it is dropped; 300 and 0.001 lie outside the ranges.
    fixed = {
        name: first.params[name] for name in ("num_leaves", "learning_rate", "bagging_fraction")
    }
    assert fixed == {"num_leaves": 31, "learning_rate": 0.1, "bagging_fraction": 1.0}
    assert set(first.params) == set(SPACE)
    assert second.params["num_leaves"] == 128
    assert second.params["learning_rate"] == 0.01
    assert second.params["l1_ratio"] == 1.0
    assert [t.user_attrs.get(FIRST_TRIAL_ATTR) for t in study.trials[:3]] == [
        "defaults",
        "regularised",
        None,
    ]


def test_a_resumed_study_does_not_enqueue_its_first_trials_again(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = open_study(storage, "resumed", TUNING)
    enqueue_first_trials(study, FIRST, SPACE)
    run_study(study, quadratic, TUNING | {"n_trials": 3})
    resumed = open_study(storage, "resumed", TUNING)
    assert enqueue_first_trials(resumed, FIRST, SPACE) == 0
    run_study(resumed, quadratic, TUNING)
    named = [t.user_attrs.get(FIRST_TRIAL_ATTR) for t in resumed.trials]
    assert len(named) == TUNING["n_trials"]
    assert named.count("defaults") == 1
    assert named.count("regularised") == 1


def test_a_categorical_value_outside_its_choices_is_a_config_error(tmp_path):
    study = open_study(f"sqlite:///{tmp_path / 'optuna.db'}", "bad", TUNING)
    with pytest.raises(ConfigError, match=r"l1_ratio=0\.5"):
        enqueue_first_trials(study, {"defaults": {"l1_ratio": 0.5}}, SPACE)


def test_the_space_is_capped_by_the_training_rows():
    space = {
        "num_leaves": {"type": "int", "low": 8, "high": 128, "log": True},
        "min_child_samples": {"type": "int", "low": 10, "high": 200, "log": True},
        "learning_rate": SPACE["learning_rate"],
    }
    fitted = fit_space_to_rows(space, 400)
    # 400 rows: leaves <= 400 / (2 * 10) = 20, leaf size <= 400 / (2 * 8) = 25.
    assert (fitted["num_leaves"]["high"], fitted["min_child_samples"]["high"]) == (20, 25)
    assert fitted["learning_rate"] == space["learning_rate"]
    assert fit_space_to_rows(space, 100_000) == space
    tiny = fit_space_to_rows(space, 50)
    assert (tiny["num_leaves"]["high"], tiny["min_child_samples"]["high"]) == (8, 10)
    assert space["num_leaves"]["high"] == 128


class ScoreIsAFeature:
    """An estimator whose score is the ``x`` column: fold AUCs can be worked out by hand."""

    def __init__(self, params):
        self.params = params

    def fit(self, X, y, X_valid=None, y_valid=None, on_iteration=None):
        return self

    def predict_raw(self, X):
        return X["x"].to_numpy()


def test_the_objective_is_the_mean_validation_auc_of_the_folds():
    X = pd.DataFrame({"x": [0.1, 0.4, 0.35, 0.8, 0.6, 0.2, 0.7, 0.3]})
    y = np.array([0, 1, 0, 1, 0, 1, 1, 0])
    # Fold 0 validates rows 0-3: both positives outscore both negatives, AUC 1.
    # Fold 1 validates rows 4-7: positive 0.7 beats both negatives, 0.2 neither, AUC 2/4.
    folds = [
        Split(train=np.arange(4, 8), valid=np.arange(0, 4)),
        Split(train=np.arange(0, 4), valid=np.arange(4, 8)),
    ]
    model_cfg = {"kind": "score", "estimator": {"_target_": f"{__name__}.ScoreIsAFeature"}}
    study = optuna.create_study(direction="maximize")
    study.optimize(make_objective(X, y, folds, model_cfg, SPACE), n_trials=1)
    assert study.trials[0].value == pytest.approx(0.75)
    assert study.trials[0].user_attrs["fold_val_roc_auc"] == pytest.approx([1.0, 0.5])


def test_no_trial_beating_the_defaults_keeps_the_defaults(tmp_path):
    X = pd.DataFrame({"x": [0.1, 0.4, 0.35, 0.8]})
    y = np.array([0, 1, 0, 1])
    model_cfg = {
        "kind": "score",
        "estimator": {"_target_": f"{__name__}.ScoreIsAFeature"},
        "search_space": SPACE,
    }
    tuning_cfg = TUNING | {
        "n_trials": 4,
        "enqueue_defaults": True,
        "first_trials": {"score": FIRST},
    }
    fold = Split(train=np.arange(4), valid=np.arange(4))
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study, _, ran = tune(X, y, [fold], model_cfg, tuning_cfg, storage, "tie", [])
    params, summary = choose_params(study, 1)
    assert ran == 4
    assert summary["gain_over_defaults"] == 0.0
    assert summary["kept_defaults"]
    assert params == study.trials[0].params


def test_out_of_time_inner_folds_are_grouped_by_customer_and_never_see_test_rows():
    table = make_table(600, 4, seed=1)
    split_cfg = {
        "kind": "out_of_time",
        "snapshots": "calendar",
        "n_valid_cutoffs": 1,
        "n_test_cutoffs": 1,
        "gap_cutoffs": 0,
        "held_out_fraction": 0.3,
        "horizon_days": 20,
        "calibration_share": 0.5,
        "salt": "split",
        "seed": 7,
    }
    plan = make_splits(table, split_cfg)
    folds = make_inner_folds(table, plan, split_cfg, 3)
    customers = table["customer_id"].to_numpy()
    cutoffs = table["cutoff"].to_numpy()
    valid_start, test_start = np.sort(np.unique(cutoffs))[[2, 3]]
    forbidden = np.concatenate([plan.folds[0].test, plan.folds[0].calibrate])
    assert len(folds) == 3
    validated = np.concatenate([fold.valid for fold in folds])
    assert len(np.unique(customers[validated])) == len(customers[validated])
    for fold in folds:
        assert not set(customers[fold.train]) & set(customers[fold.valid])
        assert cutoffs[fold.train].max() < valid_start
        assert (cutoffs[fold.valid] == valid_start).all()
        assert not np.isin(np.concatenate([fold.train, fold.valid]), forbidden).any()
    assert test_start > valid_start
