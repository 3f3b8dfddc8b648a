"""Feature builder benchmark: events/s, wall time and peak RSS (prints figures, not a test).

Generated logs of 1M and 10M events over 100k customers, all families, windows 7/30/90,
one cutoff. The timed call is ``build_features`` (the DuckDB backend is imported before;
generating the log is not timed). The pandas reference (tests/reference_features.py) runs
at 1M only; its 10M figure is not extrapolated. Each measurement runs in a fresh process,
so its RSS is its own: peak during the timed call (sampled every 20 ms; includes the
generated log held in memory) and the process high-water mark (which includes generation).

    .venv/bin/python bench/features.py            # 1M and 10M
    .venv/bin/python bench/features.py --sizes 1000000
"""

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CUTOFF = "2025-05-01"
N_CUSTOMERS = 100_000


def cpu_seconds() -> float:
    """User + system CPU of this process, all threads (robust to other load on the host)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


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


def measure(kind: str, n_events: int, queue) -> None:
    """Generate the log, then time one build; report wall time and this process's peak RSS."""
    from tests.reference_features import random_event_log, reference_features

    from behaviorlab.features.builder import build_features
    from behaviorlab.features.engine import connect
    from behaviorlab.features.snapshots import make_calendar_snapshots
    from behaviorlab.features.spec import resolve_feature_spec

    events = random_event_log(N_CUSTOMERS, n_events, seed=1)
    snapshots = make_calendar_snapshots(events, cutoffs=[CUTOFF])
    spec = resolve_feature_spec({"windows": [7, 30, 90]}, events, None)
    connect()  # loads the DuckDB backend module: a one-off import, not builder work
    rss_before = psutil.Process().memory_info().rss / 2**20
    cpu_before = cpu_seconds()
    start = time.perf_counter()
    with PeakRss() as rss:
        if kind == "builder":
            frame = build_features(events, None, snapshots, spec)
        else:
            frame = reference_features(events, snapshots, spec)
    wall = time.perf_counter() - start
    cpu = cpu_seconds() - cpu_before
    queue.put(
        {
            "kind": kind,
            "events": n_events,
            "snapshots": len(snapshots),
            "features": frame.shape[1] - 2,
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "events_per_s": round(n_events / wall),
            "rss_before_mb": round(rss_before),
            "peak_rss_during_call_mb": round(rss.peak / 2**20),
            "peak_rss_process_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }
    )


def run(kind: str, n_events: int) -> dict:
    """One measurement in a fresh process."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=measure, args=(kind, n_events, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--reference-max", type=int, default=1_000_000)
    args = parser.parse_args()
    results = []
    for n in args.sizes:
        results.append(run("builder", n))
        print(json.dumps(results[-1]), flush=True)
        if n <= args.reference_max:
            results.append(run("pandas_reference", n))
            print(json.dumps(results[-1]), flush=True)
    by = {(r["kind"], r["events"]): r for r in results}
    for n in args.sizes:
        if ("pandas_reference", n) in by:
            speedup = by[("pandas_reference", n)]["wall_s"] / by[("builder", n)]["wall_s"]
            print(f"speed-up over the pandas reference at {n:,} events: {speedup:.1f}x (wall)")
    print(f"host load average during the run: {os.getloadavg()} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
