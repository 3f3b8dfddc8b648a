"""A SIGTERM while a run or a trial is being written waits for the write to end, then stops
the job."""

import os
import signal
import time

import optuna
import pytest

from behaviorlab.apps.common import Stopped, stopping_on_signals
from behaviorlab.modeling.tuning import OWNER_ATTR, open_study, run_study
from behaviorlab.processes import stops_held, stops_released


def write_while_stopped(done: list[str]) -> None:
    """A held block that receives SIGTERM half way and records that it still finished."""
    with stops_held():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)  # the handler has run by now: the stop is held, not raised
        done.append("finished")


def sleep_while_stopped() -> None:
    """An unheld sleep that receives SIGTERM."""
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(1)
    pytest.fail("the stop did not interrupt the sleep")


def test_a_stop_inside_a_held_block_is_raised_as_the_block_ends():
    done: list[str] = []
    with stopping_on_signals(), pytest.raises(Stopped) as stopped:
        write_while_stopped(done)
    assert done == ["finished"]
    assert stopped.value.signum == signal.SIGTERM


def test_a_stop_outside_a_held_block_is_raised_at_once():
    started = time.monotonic()
    with stopping_on_signals(), pytest.raises(Stopped):
        sleep_while_stopped()
    assert time.monotonic() - started < 0.9


def release_after_a_held_stop(done: list[str]) -> None:
    """A held block that receives SIGTERM, then opens a released block."""
    with stops_held():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        with stops_released():
            done.append("not reached")  # the held stop is raised as the block opens


def hold_again_after_release(done: list[str]) -> None:
    """A released block inside a held one, then SIGTERM once it has closed."""
    with stops_held():
        with stops_released():
            done.append("released")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        done.append("held again")


def test_a_released_block_raises_a_held_stop_on_entry_and_holds_again_after():
    done: list[str] = []
    with stopping_on_signals(), pytest.raises(Stopped):
        release_after_a_held_stop(done)
    assert done == []
    with stopping_on_signals(), pytest.raises(Stopped):
        hold_again_after_release(done)
    assert done == ["released", "held again"]


class StoppedWhileAsking(optuna.samplers.RandomSampler):
    """A sampler that sends the process SIGTERM while Optuna creates the trial."""

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)


TUNING = {
    "n_trials": 3,
    "timeout": None,
    "direction": "maximize",
    "show_progress_bar": False,
    "sampler": {"_target_": "optuna.samplers.RandomSampler", "seed": 1},
    "pruner": None,
    "heartbeat_interval": None,
    "grace_period": None,
}


def test_a_stop_while_a_trial_is_created_waits_for_its_claim_then_fails_it(tmp_path):
    """The trial is claimed (its owner written) before the stop goes on, and ends FAIL,
    not RUNNING: the stop did not cut Optuna's writes in half."""
    study = open_study(f"sqlite:///{tmp_path / 'optuna.db'}", "stopped", TUNING)
    study.sampler = StoppedWhileAsking(seed=1)
    with stopping_on_signals(), pytest.raises(Stopped):
        run_study(study, lambda trial: trial.suggest_float("x", 0, 1), TUNING)
    (trial,) = study.get_trials()
    assert trial.state == optuna.trial.TrialState.FAIL
    assert OWNER_ATTR in trial.user_attrs
