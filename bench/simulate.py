"""Simulator throughput: events/s, wall time and peak RSS for the demo size and a larger one.

Usage: python bench/simulate.py [n_customers ...]   (default: 20000 200000; e.g. 1000000)
Each size runs in a fresh process so that peak RSS belongs to that size alone.
"""

import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_SIZES = (20_000, 200_000)
PERIOD = {"seed": 7, "start": "2024-01-01", "end": "2025-06-30"}


def measure(n_customers: int, queue) -> None:
    """Write one simulation to a temporary directory; report time, size and peak RSS."""
    from behaviorlab.data.simulator import write_simulation

    with tempfile.TemporaryDirectory() as out_dir:
        started = time.perf_counter()
        summary = write_simulation(out_dir, n_customers=n_customers, **PERIOD)
        seconds = time.perf_counter() - started
        size = sum(path.stat().st_size for path in Path(out_dir).iterdir())
    queue.put((summary, seconds, size, peak_rss_bytes()))


def peak_rss_bytes() -> int:
    """The process's high-water resident set size (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(argv: list[str]) -> None:
    """Run each requested size in its own process and print one line per size."""
    sizes = [int(arg) for arg in argv] or list(DEFAULT_SIZES)
    context = multiprocessing.get_context("spawn")
    for n_customers in sizes:
        queue = context.Queue()
        process = context.Process(target=measure, args=(n_customers, queue))
        process.start()
        summary, seconds, size, peak = queue.get()
        process.join()
        print(
            f"simulate {n_customers:>9,} customers: {summary['events']:>12,} events"
            f" in {seconds:6.1f} s = {summary['events'] / seconds:>10,.0f} events/s,"
            f" files {size / 2**20:7.1f} MiB, peak RSS {peak / 2**20:7.0f} MiB;"
            f" churn {summary['churn_label_rate']:.3f} vs oracle {summary['oracle_churn_mean']:.3f}"
            f" (n={summary['churn_eligible']:,}), conversion"
            f" {summary['conversion_label_rate']:.4f} vs {summary['oracle_conversion_mean']:.4f}"
            f" (n={summary['conversion_eligible']:,})"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
