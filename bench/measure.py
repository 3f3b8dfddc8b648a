"""What every benchmark measures the same way: peak memory, load, a scratch store."""

import os
import threading
from pathlib import Path

import psutil


class PeakRss:
    """Samples this process's RSS every 20 ms in a thread: the peak during one call."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.peak = self.process.memory_info().rss
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)

    def sample(self) -> None:
        while not self.done.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> "PeakRss":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.thread.join()


def load_average() -> str:
    """The 1-minute load average, printed beside every timing on a shared machine."""
    return f"{os.getloadavg()[0]:.2f}"


def point_at_scratch(scratch: Path) -> None:
    """Send every path and the MLflow store into the scratch directory."""
    scratch.mkdir(parents=True, exist_ok=True)
    os.environ["BEHAVIORLAB_ROOT"] = str(scratch)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{scratch}/mlruns/mlflow.db"
