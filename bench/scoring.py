"""Scoring benchmark: customers per second and peak RSS, 100k and 1M customers, with reasons.

Prints figures, it is not a test. Setup (not timed, in this process): simulate 20k
customers, train ``experiment=sim_churn`` with a few trials (registered as churn-sim@champion
in a scratch MLflow store), build the feature table at the end of data, and resample its
rows into a Parquet feature table per size (row groups of one chunk), the categoricals as
strings as the model signature expects them.

Each measurement then runs in a fresh process, so its RSS is its own, and reads its feature
table chunk by chunk (bounded memory):

- ``raw``: LightGBM ``Booster.predict(X, pred_contrib=True)`` on the prepared matrix of
  every row: the reference cost of exact reasons for everyone.
- ``pyfunc``: ``mlflow.pyfunc.load_model(...).predict`` (schema enforcement, calibrated
  probability, tier, reasons for the acting tiers high and medium), as deployment calls it.
- ``pyfunc_all``: the same with reasons for every tier (every row pays for SHAP), to
  compare with ``raw`` like for like.
- ``end_to_end``: ``behaviorlab.apps.score.run`` from raw simulated events (load,
  eligibility, features per chunk, scoring, Parquet output, drift, MLflow scoring run).

Timed: the model calls only for raw/pyfunc (``wall s`` adds reading the chunks), the whole
``score.run`` for end_to_end. Peak RSS is sampled every 20 ms during the timed part (the
spawned process inherits its parent's high-water mark, so that mark would mislead).

Exact SHAP is the costly part (LightGBM's TreeSHAP grows with trees x leaves x depth^2), so
the reference modes (raw, pyfunc_all) run at ``--reference-sizes`` only (default 100k: the
ratio is per row), and end-to-end at ``--end-to-end`` sizes (default 100k: 1M customers is
~100M events held in memory by the loader, plus ~3 minutes of simulation).

    .venv/bin/python bench/scoring.py          # pyfunc 100k and 1M; raw, pyfunc_all, e2e 100k
    .venv/bin/python bench/scoring.py --sizes 100000 --reference-sizes --end-to-end
"""

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from measure import PeakRss, load_average, point_at_scratch  # noqa: E402

CHUNK = 50_000
TRAIN_CUSTOMERS = 20_000
SIM_DATES = {"start": "2024-01-01", "end": "2025-06-30"}
MODES = ("raw", "pyfunc", "pyfunc_all")


def mib(value: float) -> float:
    return value / 2**20


def train_model_to_score(scratch: Path) -> str:
    """Simulate the demo data and train sim_churn quickly; return the model's registry URI."""
    from tests.helpers import compose_config

    from behaviorlab.apps import train
    from behaviorlab.data.simulator import write_simulation

    write_simulation(scratch / "data" / "sim", n_customers=TRAIN_CUSTOMERS, seed=7, **SIM_DATES)
    cfg = compose_config(
        "train", ["experiment=sim_churn", "tuning.n_trials=5", "tuning.show_progress_bar=false"]
    )
    trained = train.run(cfg)
    return f"models:/{trained['model_name']}/{trained['model_version']}"


def sample_features(model_uri: str) -> pd.DataFrame:
    """Features of every eligible demo customer at the end of data, as the signature wants."""
    from tests.helpers import compose_config

    from behaviorlab.apps.common import to_plain
    from behaviorlab.data.sources import load_dataset
    from behaviorlab.features.builder import build_features
    from behaviorlab.scoring.batch import default_cutoff, scoring_snapshots
    from behaviorlab.tracking.models import as_signature_frame, load_behavior_model

    _, spec = load_behavior_model(model_uri)
    dataset = load_dataset(to_plain(compose_config("score", []).data))
    snapshots = scoring_snapshots(
        dataset.events, dataset.customers, spec["task"], default_cutoff(dataset.events)
    )
    built = build_features(dataset.events, dataset.customers, snapshots, spec["features"])
    return as_signature_frame(built[spec["feature_names"]])


def write_feature_table(sample: pd.DataFrame, n_rows: int, path: Path) -> None:
    """Resample the demo rows into ``n_rows`` rows, one Parquet row group per chunk."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(n_rows)
    writer = None
    for start in range(0, n_rows, CHUNK):
        rows = rng.integers(0, len(sample), min(CHUNK, n_rows - start))
        table = pa.Table.from_pandas(sample.iloc[rows], preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=CHUNK)
    writer.close()


def time_model_calls(mode: str, model_uri: str, path: Path) -> dict:
    """Read the feature table chunk by chunk; time only the model call on each chunk."""
    import mlflow.pyfunc
    import pyarrow.parquet as pq

    from behaviorlab.scoring.predict import score_features, tier_names

    pyfunc = mlflow.pyfunc.load_model(model_uri)
    behavior = pyfunc.unwrap_python_model()
    model, scoring = behavior.model, behavior.spec["scoring"]
    booster, best = model.estimator.booster_, model.estimator.best_iteration_
    call_seconds, call_cpu, rows, acting = 0.0, 0.0, 0, 0
    rss_before = psutil.Process().memory_info().rss
    start = time.perf_counter()
    with PeakRss() as rss:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=CHUNK):
            chunk = batch.to_pandas()
            if mode == "raw":
                X = model.prepare(chunk)
                tick, cpu = time.perf_counter(), time.process_time()
                booster.predict(X, num_iteration=best, pred_contrib=True)
            elif mode == "pyfunc":
                tick, cpu = time.perf_counter(), time.process_time()
                out = pyfunc.predict(chunk)
            else:
                tick, cpu = time.perf_counter(), time.process_time()
                out = score_features(
                    model, chunk, scoring["tiers"], tier_names(scoring["tiers"]), 3
                )
            call_seconds += time.perf_counter() - tick
            call_cpu += time.process_time() - cpu
            rows += len(chunk)
            acting += int(out["reason_1"].notna().sum()) if mode != "raw" else len(chunk)
    return {
        "rows": rows,
        "seconds": call_seconds,
        "cpu_seconds": call_cpu,
        "wall_seconds": time.perf_counter() - start,
        "with_reasons": acting,
        "rss_before_mib": mib(rss_before),
        "peak_mib": mib(rss.peak),
    }


def time_end_to_end(model_uri: str, data_dir: Path, out: Path) -> dict:
    """The score app from raw events: load, features per chunk, score, write, log."""
    from tests.helpers import compose_config

    from behaviorlab.apps import score

    name, version = model_uri.removeprefix("models:/").split("/")
    cfg = compose_config(
        "score",
        [
            f"registered_model={name}/{version}",
            f"data.path={data_dir}/events.parquet",
            f"data.customers.path={data_dir}/customers.parquet",
            "data.simulate=null",
            f"output.path={out}",
            f"chunk_size={CHUNK}",
            "progress=false",
        ],
    )
    rss_before = psutil.Process().memory_info().rss
    start, cpu = time.perf_counter(), time.process_time()
    with PeakRss() as rss:
        result = score.run(cfg)
    return {
        "rows": result["rows"],
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
        "wall_seconds": time.perf_counter() - start,
        "with_reasons": result["tiers"].get("high", 0) + result["tiers"].get("medium", 0),
        "rss_before_mib": mib(rss_before),
        "peak_mib": mib(rss.peak),
    }


def forget_model_code(scratch: str) -> None:
    """Import behaviorlab from the repository, not from a logged model's code copy.

    Loading a pyfunc puts its code path on sys.path, and a spawned process inherits the
    parent's sys.path; that copy's conf/ lookup would point inside the artifact store.
    """
    sys.path[:] = [entry for entry in sys.path if not entry.startswith(scratch)]


def measure(mode: str, model_uri: str, source: str, scratch: str, queue) -> None:
    """One measurement in this (fresh) process; the figures go back through the queue."""
    forget_model_code(scratch)
    point_at_scratch(Path(scratch))
    load = load_average()
    if mode == "end_to_end":
        figures = time_end_to_end(model_uri, Path(source), Path(scratch) / "scores.parquet")
    else:
        figures = time_model_calls(mode, model_uri, Path(source))
    queue.put(figures | {"load": load, "load_after": load_average()})


def run_fresh(mode: str, model_uri: str, source: Path, scratch: Path) -> dict:
    """Run ``measure`` in a spawned process so its peak RSS is its own."""
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(
        target=measure, args=(mode, model_uri, str(source), str(scratch), queue)
    )
    process.start()
    figures = queue.get()
    process.join()
    return figures


def print_row(mode: str, size: int, figures: dict) -> None:
    """One table row: rate, peak memory, load."""
    rate = figures["rows"] / figures["seconds"]
    print(
        f"| {mode} | {size:,} | {figures['rows']:,} | {figures['with_reasons']:,} "
        f"| {figures['seconds']:.2f} | {figures['cpu_seconds']:.2f} "
        f"| {figures['wall_seconds']:.2f} | {rate:,.0f} "
        f"| {figures['peak_mib']:,.0f} | {figures['load']}-{figures['load_after']} |",
        flush=True,
    )


def simulate_size(scratch: Path, n_customers: int) -> tuple[Path, float]:
    """Raw events for the end-to-end run (not timed as scoring); seconds to simulate."""
    from behaviorlab.data.simulator import write_simulation

    out = scratch / f"sim_{n_customers}"
    start = time.perf_counter()
    write_simulation(out, n_customers=n_customers, seed=11, **SIM_DATES)
    return out, time.perf_counter() - start


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Sizes of the feature-table runs and of the end-to-end runs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument(
        "--reference-sizes",
        type=int,
        nargs="*",
        default=[100_000],
        help="sizes that also run raw pred_contrib and pyfunc with reasons for every row",
    )
    parser.add_argument("--end-to-end", type=int, nargs="*", default=[100_000])
    parser.add_argument("--scratch", type=Path, help="default: a fresh temporary directory")
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    """Set up once, then measure every mode and size in a fresh process and print a table."""
    args = parse_args(argv)
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="behaviorlab-scoring-"))
    point_at_scratch(scratch)
    model_uri = train_model_to_score(scratch)
    sample = sample_features(model_uri)
    print(
        f"scratch {scratch}; model {model_uri}; {len(sample):,} demo rows resampled; "
        f"chunk {CHUNK:,}; cores {os.cpu_count()}"
    )
    print(
        "| path | customers | rows | with reasons | call s | call CPU s | wall s | customers/s "
        "| peak MiB | load start-end |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    rates = {}
    for size in sorted(set(args.sizes) | set(args.reference_sizes)):
        table = scratch / f"features_{size}.parquet"
        write_feature_table(sample, size, table)
        modes = MODES if size in args.reference_sizes else ("pyfunc",)
        for mode in modes:
            figures = run_fresh(mode, model_uri, table, scratch)
            rates[mode, size] = figures
            print_row(mode, size, figures)
    for size in args.end_to_end:
        data_dir, seconds = simulate_size(scratch, size)
        print(f"(simulated {size:,} customers in {seconds:.0f} s, load {load_average()})")
        figures = run_fresh("end_to_end", model_uri, data_dir, scratch)
        rates["end_to_end", size] = figures
        print_row("end_to_end", size, figures)
    print_ratios(rates, args.reference_sizes)


def print_ratios(rates: dict, reference_sizes: list[int]) -> None:
    """The targets: pyfunc within 1.5x of raw pred_contrib; peak RSS flat across sizes.

    Time ratios use CPU seconds (all threads): on a shared machine the wall time of a call
    depends on what else runs.
    """
    for size in reference_sizes:
        raw = rates["raw", size]["cpu_seconds"]
        for mode in ("pyfunc", "pyfunc_all"):
            ratio = rates[mode, size]["cpu_seconds"] / raw
            print(f"{size:,}: {mode} CPU / raw pred_contrib CPU = {ratio:.2f} (target <= 1.5)")
    for mode in ("pyfunc", "end_to_end"):
        measured = sorted(size for kind, size in rates if kind == mode)
        if len(measured) >= 2:
            small, large = measured[0], measured[-1]
            growth = rates[mode, large]["peak_mib"] / rates[mode, small]["peak_mib"] - 1
            print(f"{mode}: peak RSS {large:,} vs {small:,}: {growth:+.1%} (target within 20 %)")


if __name__ == "__main__":
    main(sys.argv[1:])
