"""Feature builder benchmark: events/s, wall time and peak RSS (prints figures, not a test).

Generated logs of 1M and 10M events over 100k customers, all families, windows 7/30/90,
one cutoff. The timed call is ``build_features`` (the DuckDB backend is imported before;
generating the log is not timed). The pandas reference (tests/reference_features.py) runs
at 1M only; its 10M figure is not extrapolated. Each measurement runs in a fresh process,
so its peak RSS is its own (it includes the generated log held in memory).

    .venv/bin/python bench/features.py            # 1M and 10M
    .venv/bin/python bench/features.py --sizes 1000000
"""

import argparse
import json
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CUTOFF = "2025-05-01"
N_CUSTOMERS = 100_000


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
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    if kind == "builder":
        frame = build_features(events, None, snapshots, spec)
    else:
        frame = reference_features(events, snapshots, spec)
    wall = time.perf_counter() - start
    queue.put(
        {
            "kind": kind,
            "events": n_events,
            "snapshots": len(snapshots),
            "features": frame.shape[1] - 2,
            "wall_s": round(wall, 2),
            "events_per_s": round(n_events / wall),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "rss_after_generation_mb": round(rss_before),
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
            print(f"speed-up over the pandas reference at {n:,} events: {speedup:.1f}x")


if __name__ == "__main__":
    main()
