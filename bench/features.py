"""Feature builder benchmark: events/s, wall time and peak RSS (prints figures, not a test).

Generated logs of 1M and 10M events over 100k customers, all families, windows 7/30/90,
one cutoff. The timed call is ``build_features`` (the DuckDB backend is imported before;
generating the log is not timed). The pandas reference (tests/reference_features.py) runs
at 1M only; its 10M figure is not extrapolated. Each measurement runs in a fresh process,
so its RSS is its own: peak during the timed call (sampled every 20 ms; includes the
generated log held in memory) and the process high-water mark (which includes generation).
CPU is user + system time of all the process's threads during the call; the 1-minute load
average is read when each call ends, since other work on the host slows the wall time.

    .venv/bin/python bench/features.py            # 1M and 10M
    .venv/bin/python bench/features.py --sizes 1000000
"""

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from measure import PeakRss  # noqa: E402

CUTOFF = "2025-05-01"
N_CUSTOMERS = 100_000


def cpu_seconds() -> float:
    """User + system CPU of this process, all threads (robust to other load on the host)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


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
            "customers": int(events["customer_id"].nunique()),
            "snapshots": len(snapshots),
            "features": frame.shape[1] - 2,
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "events_per_s": round(n_events / wall),
            "rss_before_mb": round(rss_before),
            "peak_rss_during_call_mb": round(rss.peak / 2**20),
            "peak_rss_process_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "load_average_1m": round(os.getloadavg()[0], 2),
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


COLUMNS = (
    ("kind", "{:<16}"),
    ("events", "{:>11,}"),
    ("customers", "{:>9,}"),
    ("snapshots", "{:>9,}"),
    ("features", "{:>8}"),
    ("wall_s", "{:>7.2f}"),
    ("cpu_s", "{:>7.2f}"),
    ("events_per_s", "{:>12,}"),
    ("peak_rss_during_call_mb", "{:>8,}"),
    ("speedup", "{:>7}"),
    ("load_average_1m", "{:>6.2f}"),
)
HEADERS = ("kind", "events", "customers", "snapshots", "features", "wall s", "cpu s")
HEADERS += ("events/s", "peak MB", "speedup", "load")


def with_speedups(results: list[dict]) -> list[dict]:
    """Each builder row gets its wall-time speed-up over the reference at the same size."""
    reference = {r["events"]: r["wall_s"] for r in results if r["kind"] == "pandas_reference"}
    out = []
    for r in results:
        ref = reference.get(r["events"]) if r["kind"] == "builder" else None
        out.append({**r, "speedup": f"{ref / r['wall_s']:.1f}x" if ref else "-"})
    return out


def print_table(results: list[dict]) -> None:
    """One aligned line per measurement (the JSON lines above carry every field)."""
    widths = [len(fmt.format(results[0][key])) for key, fmt in COLUMNS]
    print(
        " ".join(
            h.rjust(w) if i else h.ljust(w)
            for i, (h, w) in enumerate(zip(HEADERS, widths, strict=True))
        )
    )
    for r in results:
        print(" ".join(fmt.format(r[key]) for key, fmt in COLUMNS))


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
    print_table(with_speedups(results))
    print(f"host load average at the end: {os.getloadavg()} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
