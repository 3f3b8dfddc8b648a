"""All analyses on ~10M simulated events: seconds per analysis (target: <= 30 s on 2 cores).

Usage: python bench/analyses.py [n_customers]   (default 102000, about 10M events)
The simulation is generated once into .cache/bench/ and reused. Figures printed: events,
customers, seconds to compute each analysis (tables and charts), and seconds to write the
outputs folder (Parquet, CSV, PNG, HTML), which the app does once at the end.
"""

import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from behaviorlab.analysis.pipeline import ANALYSES, Inputs
from behaviorlab.apps.analyze import write_outputs
from behaviorlab.apps.common import compose_app, to_plain
from behaviorlab.data.simulator import write_simulation

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CUSTOMERS = 102_000
PERIOD = {"seed": 7, "start": "2024-01-01", "end": "2025-06-30"}


def ensure_simulation(n_customers: int) -> Path:
    """The cached simulation of this size, generated on first use."""
    folder = ROOT / ".cache" / "bench" / f"sim-{n_customers}"
    if not (folder / "events.parquet").exists():
        started = time.perf_counter()
        write_simulation(folder, n_customers=n_customers, **PERIOD)
        print(f"simulated {n_customers:,} customers in {time.perf_counter() - started:.1f} s")
    return folder


def analysis_settings() -> dict:
    """The analyses' settings exactly as the app composes them for simulator data."""
    return to_plain(compose_app("analyze", ["data=sim"]).analysis)


def main(argv: list[str]) -> None:
    """Time each analysis on the cached simulation and print the figures."""
    n_customers = int(argv[0]) if argv else DEFAULT_CUSTOMERS
    folder = ensure_simulation(n_customers)
    events = pd.read_parquet(folder / "events.parquet")
    inputs = Inputs(
        events=events,
        customers=pd.read_parquet(folder / "customers.parquet"),
        data_end=events["timestamp"].max(),
        truth=pd.read_parquet(folder / "truth.parquet"),
    )
    settings = analysis_settings()
    print(f"events: {len(events):,}  customers: {events['customer_id'].nunique():,}")
    results, total = [], 0.0
    for name, analyse in ANALYSES.items():
        started = time.perf_counter()
        results.append(analyse(inputs, settings[name]))
        seconds = time.perf_counter() - started
        total += seconds
        print(f"{name:<10} {seconds:6.1f} s")
    print(f"{'all':<10} {total:6.1f} s  (target <= 30 s)")
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        write_outputs(Path(out) / "report", results, "bench", "bench")
        print(f"{'write':<10} {time.perf_counter() - started:6.1f} s  (tables, charts, report)")
    for key in ("clusters_k", "clusters_truth_ari", "clusters_stability_ari", "funnel_conversion"):
        value = next(r.metrics[key] for r in results if key in r.metrics)
        print(f"{key}: {value:.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
