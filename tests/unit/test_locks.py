"""Lock files beside a SQLite store serialise critical sections across processes."""

import subprocess
import sys
import time

from behaviorlab.locks import sqlite_lock

HOLD = """
import sys, time
from behaviorlab.locks import sqlite_lock
with sqlite_lock(sys.argv[1], "gate-churn-sim.lock"):
    print("held", flush=True)
    time.sleep(1.5)
"""


def test_a_second_process_waits_for_the_holder(tmp_path):
    url = f"sqlite:///{tmp_path / 'mlflow.db'}"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, url], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    start = time.monotonic()
    with sqlite_lock(url, "gate-churn-sim.lock"):
        waited = time.monotonic() - start
    holder.wait(timeout=30)
    assert waited > 0.5


def test_other_purposes_and_non_sqlite_urls_do_not_wait(tmp_path):
    url = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with sqlite_lock(url, "gate-a.lock"):
        start = time.monotonic()
        with sqlite_lock(url, "gate-b.lock"), sqlite_lock("postgresql://h/db", "gate-a.lock"):
            assert time.monotonic() - start < 0.5
