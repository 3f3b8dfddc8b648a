"""Model quality benchmark: simulator churn against its oracle, CDNOW against its peers.

Prints figures, it is not a test. Everything it writes (simulated data, MLflow store,
Optuna studies, cached tables) goes to a scratch directory, never into the repository.

- Simulator churn (``experiment=sim_churn``, LightGBM and logistic): the test frame is the
  latest cutoff, which is the simulator's oracle cutoff; both oracles are joined on
  customer_id and the model's ROC AUC is printed beside theirs on exactly those rows, with
  the ratios: the observable oracle ``oracle_churn_observable`` (P(no event in the horizon)
  given the sessions before the cutoff and the true rates: the ceiling a model can reach
  from events) and the full oracle ``oracle_churn`` (given the latent state, which no model
  sees).
  The LightGBM run is also the demo speed figure: simulate, then ``train.run`` on a cold
  feature cache (features, tuning, refit, evaluation, logging, registration, gate).
- CDNOW repurchase (``experiment=cdnow_repurchase``, LightGBM and logistic): pooled
  out-of-fold ROC AUC and PR AUC beside the published peer figures and beside Pareto/NBD
  and BG/NBD scored on the same test rows, plus a check that the
  273-day horizon (1997-10-01 .. 1998-06-30 inclusive) labels every customer.

    .venv/bin/python bench/quality.py                      # both, the presets' own budgets
    .venv/bin/python bench/quality.py --only cdnow --trials 60
    .venv/bin/python bench/quality.py --only sim --customers 50000 --set split.n_test_cutoffs=1
    .venv/bin/python bench/quality.py --only sim --models lightgbm --seeds 7 8 9 10 11
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from measure import load_average, point_at_scratch  # noqa: E402

SHARED_DATA = ROOT.parent / "shared" / "data"
PEERS = {
    "Pareto/NBD (lifetimes)": (0.769, 0.650),
    "BG/NBD (lifetimes)": (0.763, 0.648),
    "LightGBM defaults on RFM, 5-fold CV": (0.767, 0.639),
    "days since last purchase": (0.759, 0.612),
}
CDNOW_CUSTOMERS, CDNOW_BUYERS = 23_570, 7_058
CDNOW_CUTOFF, CDNOW_HORIZON_DAYS = "1997-10-01", 273


def compose_train(overrides: list[str]):
    """conf/train.yaml composed as the command line would."""
    from tests.helpers import compose_config

    return compose_config("train", overrides)


def budget(trials: int | None) -> list[str]:
    """A tuning budget override, or none to keep the preset's own."""
    return [] if trials is None else [f"tuning.n_trials={trials}"]


def train_once(overrides: list[str], label: str) -> tuple[dict, float]:
    """One ``train.run`` on a fresh study (so no trial is resumed); wall seconds."""
    from behaviorlab.apps import train

    cfg = compose_train([*overrides, "tuning.fresh=true", f"study_prefix=bench-{label}"])
    start = time.perf_counter()
    metrics = train.run(cfg)
    return metrics, time.perf_counter() - start


def holdout_frame(run_id: str) -> pd.DataFrame:
    """The test predictions logged on the run (customer_id, cutoff, label, probability)."""
    import mlflow

    from behaviorlab.apps.train import HOLDOUT_FILE

    local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=HOLDOUT_FILE)
    return pd.read_parquet(local)


def compare_with_oracle(
    test: pd.DataFrame, truth: pd.DataFrame, oracle_cutoff: str
) -> dict[str, float]:
    """Model and both oracles' ROC AUC on exactly the same test rows (the oracle cutoff only)."""
    from sklearn.metrics import roc_auc_score

    oracles = ["oracle_churn_observable", "oracle_churn"]
    rows = test.loc[test["cutoff"] == pd.Timestamp(oracle_cutoff)].merge(
        truth[["customer_id", *oracles]], on="customer_id", how="inner"
    )
    rows = rows.dropna(subset=oracles)
    model_auc = roc_auc_score(rows["label"], rows["probability"])
    observable_auc = roc_auc_score(rows["label"], rows["oracle_churn_observable"])
    oracle_auc = roc_auc_score(rows["label"], rows["oracle_churn"])
    return {
        "rows": len(rows),
        "label_rate": float(rows["label"].mean()),
        "model_auc": float(model_auc),
        "observable_auc": float(observable_auc),
        "oracle_auc": float(oracle_auc),
        "observable_ratio": float(model_auc / observable_auc),
        "ratio": float(model_auc / oracle_auc),
    }


def simulate_data(data_dir: Path, n_customers: int, seed: int) -> tuple[dict, float, str]:
    """Write the simulator's files (events, customers, truth) and time it."""
    from behaviorlab.data.simulator import write_simulation

    load = load_average()
    start = time.perf_counter()
    summary = write_simulation(
        data_dir / "sim", n_customers=n_customers, seed=seed, start="2024-01-01", end="2025-06-30"
    )
    return summary, time.perf_counter() - start, load


def run_simulator(
    scratch: Path,
    trials: int | None,
    n_customers: int,
    extra: list[str],
    models: list[str],
    seeds: list[int],
) -> None:
    """Simulator churn: LightGBM and logistic test AUC against both oracles, per simulated
    population (seed), then each model's mean ratio over the seeds; and the demo time."""
    settings = f"trials {trials or 'of the preset'} {' '.join(extra)}"
    print(f"\n## simulator churn: {n_customers:,} customers, seeds {seeds}, {settings}")
    print(
        "| seed | model | test rows | churn rate | model AUC | observable oracle AUC "
        "| full oracle AUC | model / observable | model / full | train s | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    ratios: dict[str, list[float]] = {model: [] for model in models}
    for seed in seeds:
        data_dir = scratch / f"data-seed{seed}"
        summary, sim_seconds, sim_load = simulate_data(data_dir, n_customers, seed)
        truth = pd.read_parquet(Path(summary["out_dir"]) / "truth.parquet")
        base = [
            "experiment=sim_churn",
            *budget(trials),
            f"paths.data_dir={data_dir}",
            f"data.simulate.n_customers={n_customers}",
            f"data.simulate.seed={seed}",
            "tuning.show_progress_bar=false",
            *extra,
        ]
        for model in models:
            load = load_average()
            metrics, seconds = train_once([*base, f"model={model}"], f"sim{seed}-{model}")
            test = holdout_frame(metrics["run_id"])
            figures = compare_with_oracle(test, truth, summary["oracle_cutoff"])
            ratios[model].append(figures["observable_ratio"])
            print(
                f"| {seed} | {model} | {figures['rows']:,} | {figures['label_rate']:.3f} "
                f"| {figures['model_auc']:.4f} | {figures['observable_auc']:.4f} "
                f"| {figures['oracle_auc']:.4f} | {figures['observable_ratio']:.4f} "
                f"| {figures['ratio']:.4f} | {seconds:.1f} | {load}-{load_average()} |",
                flush=True,
            )
            if seed == seeds[0] and model == "lightgbm":
                demo = sim_seconds + seconds
                print(
                    f"demo to a trained model (simulate {sim_seconds:.1f} s, load {sim_load}, "
                    f"+ lightgbm train.run, cold cache): {demo:.1f} s"
                )
    for model, values in ratios.items():
        print(f"{model}: model / observable oracle over {len(values)} seed(s): {summarise(values)}")


def summarise(values: list[float]) -> str:
    """Mean, with the standard error of the mean when there are several values."""
    mean = float(np.mean(values))
    if len(values) < 2:
        return f"{mean:.4f}"
    standard_error = float(np.std(values, ddof=1) / np.sqrt(len(values)))
    return f"{mean:.4f} +- {standard_error:.4f} (standard error; min {min(values):.4f})"


def check_full_horizon(cfg) -> tuple[int, float]:
    """Rows and label rate of the CDNOW table: every customer, 7,058 buyers expected."""
    from behaviorlab.apps.train import load_training_table

    _, table = load_training_table(cfg, use_cache=False)
    return len(table.frame), float(table.frame["label"].mean())


def score_peers_on_rows(test: pd.DataFrame, shared_data: Path) -> dict[str, tuple[float, float]]:
    """Pareto/NBD and BG/NBD on the model's own test rows: fitted (no labels) on every
    customer's purchases before the cutoff, scored by expected purchases in the horizon.
    behaviorlab's fits, which equal lifetimes' (tests/integration/test_clv_cdnow.py)."""
    from sklearn.metrics import average_precision_score, roc_auc_score
    from tests.helpers import read_cdnow_purchases

    from behaviorlab.modeling.clv import BetaGeoModel, ParetoNBDModel, summarize_purchases

    summary = summarize_purchases(read_cdnow_purchases(shared_data), CDNOW_CUTOFF)
    rows = test.merge(summary, on="customer_id", how="inner")
    if len(rows) != len(test):
        raise RuntimeError(f"{len(test) - len(rows)} test customers have no purchase summary")
    scores = {}
    for name, model_class in (("Pareto/NBD", ParetoNBDModel), ("BG/NBD", BetaGeoModel)):
        expected = model_class().fit(summary).expected_purchases(rows, CDNOW_HORIZON_DAYS)
        scores[name] = (
            float(roc_auc_score(rows["label"], expected)),
            float(average_precision_score(rows["label"], expected)),
        )
    return scores


def run_cdnow(trials: int | None, extra: list[str], shared_data: Path, models: list[str]) -> None:
    """CDNOW repurchase, 5-fold customer CV: pooled out-of-fold AUCs beside the peers."""
    base = [
        "experiment=cdnow_repurchase",
        f"paths.shared_data={shared_data}",
        *budget(trials),
        "tuning.show_progress_bar=false",
        *extra,
    ]
    rows, rate = check_full_horizon(compose_train(base))
    expected = CDNOW_BUYERS / CDNOW_CUSTOMERS
    print(f"\n## CDNOW repurchase: trials {trials or 'of the preset'} {' '.join(extra)}")
    print(
        f"table: {rows:,} rows (expected {CDNOW_CUSTOMERS:,}), label rate {rate:.4f} "
        f"(expected {expected:.4f})"
    )
    print("| scorer | ROC AUC | PR AUC | fold AUC mean +- sd | train s | load start-end |")
    print("|---|---|---|---|---|---|")
    for model in models:
        load = load_average()
        metrics, seconds = train_once([*base, f"model={model}"], f"cdnow-{model}")
        print(
            f"| behaviorlab {model} | {metrics['roc_auc']:.4f} | {metrics['pr_auc']:.4f} "
            f"| {metrics['fold_roc_auc_mean']:.4f} +- {metrics['fold_roc_auc_std']:.4f} "
            f"| {seconds:.1f} | {load}-{load_average()} |",
            flush=True,
        )
        test = holdout_frame(metrics["run_id"])
        for name, (roc, pr) in score_peers_on_rows(test, shared_data).items():
            print(f"| {name} on the same {len(test):,} rows | {roc:.4f} | {pr:.4f} | | | |")
    for name, (roc, pr) in PEERS.items():
        print(f"| {name} (peer) | {roc:.3f} | {pr:.3f} | | | |")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """--trials, --only, --customers, --seeds, --models, --scratch, --shared-data, --set."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, help="default: each preset's own budget")
    parser.add_argument("--only", choices=["sim", "cdnow"])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[7], help="simulated populations, one per seed"
    )
    parser.add_argument("--models", nargs="+", default=["lightgbm", "logistic"])
    parser.add_argument("--scratch", type=Path, help="default: a fresh temporary directory")
    parser.add_argument("--shared-data", type=Path, default=SHARED_DATA)
    parser.add_argument("--set", action="append", default=[], help="extra Hydra override")
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    """Run the selected benchmarks in a scratch directory and print their tables."""
    args = parse_args(argv)
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="behaviorlab-quality-"))
    point_at_scratch(scratch)
    print(f"scratch {scratch}; cores {os.cpu_count()}; load at start {load_average()}")
    if args.only in (None, "sim"):
        run_simulator(scratch, args.trials, args.customers, args.set, args.models, args.seeds)
    if args.only in (None, "cdnow"):
        run_cdnow(args.trials, args.set, args.shared_data, args.models)


if __name__ == "__main__":
    main(sys.argv[1:])
