"""A SIGTERM while a run is being written waits for the write to end, then stops the job."""

import os
import signal
import time

import pytest

from behaviorlab.apps.common import Stopped, stopping_on_signals
from behaviorlab.processes import stops_held


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
