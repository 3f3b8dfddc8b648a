"""CLV models at scale: CDNOW replicated x20 (1.39M purchases, 471,400 customers).

Each copy of a customer gets its own id, so the customers and their histories are CDNOW's,
twenty times over. Timed, with lifetimes 0.11.3 beside each step on the same data:
the calibration/holdout summary (cutoff 1997-10-01, holdout to 1998-07-01) from a pandas
frame and from a lazy DuckDB table, the BG/NBD, Pareto/NBD and Gamma-Gamma fits, and the
scoring of every customer (90-day expected purchases, P(alive), order value, 12-month CLV).
Wall seconds and CPU seconds (all threads) are printed with the load average, since other
work on a shared host slows the wall time.

    .venv/bin/python bench/clv.py                 # x20, with lifetimes
    .venv/bin/python bench/clv.py --copies 5 --no-peer
"""

import argparse
import resource
import sys
import time
import warnings
from pathlib import Path

import duckdb
import ibis
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from behaviorlab.modeling.clv import (  # noqa: E402
    BetaGeoModel,
    GammaGammaModel,
    ParetoNBDModel,
    score_clv,
    summarize_purchases,
)
from measure import load_average  # noqa: E402

CDNOW = ROOT.parent / "shared" / "data" / "cdnow" / "CDNOW_master.txt"
CUTOFF, HOLDOUT_END = pd.Timestamp("1997-10-01"), pd.Timestamp("1998-07-01")


def cpu_seconds() -> float:
    """User + system CPU of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(label: str, call):
    """Run ``call``, print its wall and CPU seconds, return its result."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = call()
    print(
        f"{label:<44} {time.perf_counter() - wall:7.2f} s wall {cpu_seconds() - cpu:7.2f} s cpu"
        f"  (load {load_average()})",
        flush=True,
    )
    return result


def replicate_cdnow(copies: int) -> pd.DataFrame:
    """CDNOW purchases ``copies`` times over, each copy with its own customer ids."""
    raw = pd.read_csv(CDNOW, sep=r"\s+", dtype={"customer_id": "str", "date": "str"})
    one = pd.DataFrame(
        {
            "customer_id": raw["customer_id"].astype("str"),
            "timestamp": pd.to_datetime(raw["date"], format="%Y%m%d").astype("datetime64[us]"),
            "amount": raw["dollar_value"].astype("float64"),
        }
    )
    copy = np.repeat(np.arange(copies), len(one)).astype("str")
    frame = pd.concat([one] * copies, ignore_index=True)
    frame["customer_id"] = (frame["customer_id"] + "-" + copy).astype("str")
    return frame


def run_ours(purchases: pd.DataFrame) -> None:
    """The product's summary, fits and scoring."""
    con = ibis.duckdb.from_connection(duckdb.connect())
    lazy = con.create_table("purchases", purchases)
    timed("summary, lazy DuckDB table", lambda: summarize_purchases(lazy, CUTOFF, HOLDOUT_END))
    summary = timed(
        "summary, pandas frame", lambda: summarize_purchases(purchases, CUTOFF, HOLDOUT_END)
    )
    counts = timed("BG/NBD fit", lambda: BetaGeoModel().fit(summary))
    pareto = timed("Pareto/NBD fit", lambda: ParetoNBDModel().fit(summary))
    spend = timed("Gamma-Gamma fit", lambda: GammaGammaModel().fit(summary))
    for model in (counts, pareto, spend):
        print(f"  {model.name}: " + ", ".join(f"{k}={v:.4g}" for k, v in model.params_.items()))
    options = {"horizon_days": 90, "months": 12, "monthly_discount": 0.01, "margin": 1.0}
    timed(
        "score (Pareto/NBD + Gamma-Gamma, 12-month CLV)",
        lambda: score_clv(summary, pareto, spend, **options),
    )


def run_peer(purchases: pd.DataFrame) -> None:
    """lifetimes 0.11.3 on the same purchases."""
    import lifetimes
    from lifetimes.utils import calibration_and_holdout_data

    warnings.simplefilter("ignore")
    summary = timed(
        "lifetimes calibration_and_holdout_data",
        lambda: calibration_and_holdout_data(
            purchases,
            "customer_id",
            "timestamp",
            calibration_period_end="1997-09-30",
            observation_period_end="1998-06-30",
            monetary_value_col="amount",
        ),
    )
    x, t_x, age = summary["frequency_cal"], summary["recency_cal"], summary["T_cal"]
    m = summary["monetary_value_cal"]
    repeat = (x > 0) & (m > 0)
    timed("lifetimes BG/NBD fit", lambda: lifetimes.BetaGeoFitter().fit(x, t_x, age))
    pareto = timed("lifetimes Pareto/NBD fit", lambda: lifetimes.ParetoNBDFitter().fit(x, t_x, age))
    spend = timed(
        "lifetimes Gamma-Gamma fit", lambda: lifetimes.GammaGammaFitter().fit(x[repeat], m[repeat])
    )

    def score() -> None:
        pareto.conditional_expected_number_of_purchases_up_to_time(90, x, t_x, age)
        pareto.conditional_probability_alive(x, t_x, age)
        spend.conditional_expected_average_profit(x, m)
        spend.customer_lifetime_value(pareto, x, t_x, age, m, time=12, discount_rate=0.01)

    timed("lifetimes score (same outputs)", score)


def main() -> None:
    """--copies (default 20) and --no-peer."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--no-peer", action="store_true", help="skip lifetimes")
    args = parser.parse_args()
    purchases = replicate_cdnow(args.copies)
    print(
        f"purchases: {len(purchases):,}  customers: {purchases['customer_id'].nunique():,}"
        f"  (CDNOW x{args.copies})"
    )
    run_ours(purchases)
    if not args.no_peer:
        run_peer(purchases)


if __name__ == "__main__":
    main()
