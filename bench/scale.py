"""Scale benchmark: end-to-end scoring from raw events at 100k and 1M customers, and the
same feature build on DuckDB and on Spark (``local[2]``).

Prints figures, it is not a test. Setup (not timed): simulate the demo's 20k customers and
train ``experiment=sim_churn`` with a few trials in a scratch MLflow store (as
``bench/scoring.py`` does), then simulate each size to Parquet in chunks.

- ``score``: ``behaviorlab.apps.score.run`` from the raw simulated events (staging with
  validation, eligibility, features per customer partition, scoring, Parquet output, drift,
  MLflow scoring run), each size in a fresh process so its peak RSS is its own. Target:
  peak <= 6 GB at 1M customers (about 100M events), and within 1.5x of the peak at 100k.
- ``features``: the churn training table (labels and every feature family) from the same
  staged events on ``engine=duckdb`` and ``engine=spark`` at about 1M and 10M events, with
  the wall-time ratio. Spark on one small machine is slower; the point is that the same
  definitions run unchanged.

    .venv/bin/python bench/scale.py                       # everything (about an hour)
    .venv/bin/python bench/scale.py --score 100000 --features  # skip the 1M run
"""

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from measure import PeakRss, load_average, point_at_scratch  # noqa: E402
from scoring import print_row, run_fresh, simulate_size, train_model_to_score  # noqa: E402

EVENTS_PER_CUSTOMER = 100  # about, for the simulator's default dates
FEATURE_EVENTS = (1_000_000, 10_000_000)
CHURN_CUTOFFS = ["task.snapshots.cutoffs=[2025-01-01,2025-03-01]"]


def build_table(engine: str, data_dir: Path, queue) -> None:
    """Stage the events and build the churn training table on one engine (fresh process)."""
    from tests.helpers import compose_config

    from behaviorlab.apps.common import to_plain
    from behaviorlab.data.sources import load_dataset
    from behaviorlab.engines import connect_engine
    from behaviorlab.features.builder import build_training_table

    cfg = compose_config(
        "train",
        [
            f"engine={engine}",
            f"data.path={data_dir}/events.parquet",
            f"data.customers.path={data_dir}/customers.parquet",
            "data.simulate=null",
            *CHURN_CUTOFFS,
        ],
    )
    con = connect_engine(to_plain(cfg.engine))
    start = time.perf_counter()
    with PeakRss() as rss:
        dataset = load_dataset(to_plain(cfg.data), engine=con)
        staged = time.perf_counter()
        table = build_training_table(
            dataset.events,
            dataset.customers,
            task=to_plain(cfg.task),
            features=to_plain(cfg.features),
            data_end=dataset.data_end,
        )
    queue.put(
        {
            "events": dataset.event_rows,
            "rows": len(table.frame),
            "stage_s": staged - start,
            "build_s": time.perf_counter() - staged,
            "peak_mib": rss.peak / 2**20,
            "load": load_average(),
        }
    )


def time_features(engine: str, data_dir: Path) -> dict:
    """``build_table`` in a spawned process."""
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=build_table, args=(engine, data_dir, queue))
    process.start()
    figures = queue.get()
    process.join()
    return figures


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--score", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--features", action="store_true", help="only the engine comparison")
    parser.add_argument("--feature-events", type=int, nargs="*", default=list(FEATURE_EVENTS))
    parser.add_argument("--scratch", type=Path, help="default: a fresh temporary directory")
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="behaviorlab-scale-"))
    point_at_scratch(scratch)
    print(f"scratch {scratch}; cores {os.cpu_count()}; load {load_average()}")
    if args.score and not args.features:
        model_uri = train_model_to_score(scratch)
        print(f"model {model_uri}")
        print(
            "| path | customers | rows | with reasons | call s | call CPU s | wall s "
            "| customers/s | peak MiB | load start-end |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        peaks = {}
        for size in args.score:
            data_dir, seconds = simulate_size(scratch, size)
            print(f"(simulated {size:,} customers in {seconds:.0f} s, load {load_average()})")
            figures = run_fresh("end_to_end", model_uri, data_dir, scratch)
            peaks[size] = figures["peak_mib"]
            print_row("score", size, figures)
        if len(peaks) > 1:
            low, high = min(peaks), max(peaks)
            print(f"peak at {high:,} / peak at {low:,}: {peaks[high] / peaks[low]:.2f}x")
    print("| engine | events | training rows | stage s | build s | peak MiB | load |")
    print("|---|---|---|---|---|---|---|")
    for n_events in args.feature_events:
        data_dir, _ = simulate_size(scratch, n_events // EVENTS_PER_CUSTOMER)
        times = {}
        for engine in ("duckdb", "spark"):
            figures = time_features(engine, data_dir)
            times[engine] = figures["build_s"]
            print(
                f"| {engine} | {figures['events']:,} | {figures['rows']:,} "
                f"| {figures['stage_s']:.1f} | {figures['build_s']:.1f} "
                f"| {figures['peak_mib']:,.0f} | {figures['load']} |",
                flush=True,
            )
        print(
            f"spark / duckdb build time at {n_events:,} events: "
            f"{times['spark'] / times['duckdb']:.1f}x"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
