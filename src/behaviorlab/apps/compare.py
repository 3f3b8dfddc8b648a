"""behaviorlab-compare: compare training runs on the rows they share, in one HTML page.

The MLflow UI sets runs' logged figures side by side, each on its own test rows; this app
scores the differences on the same rows (paired bootstrap interval) and overlays the curves.
"""

import os
import tempfile
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from behaviorlab.apps.checks import COMPARE_RULES, check_config
from behaviorlab.apps.common import CONF_DIR, entry_point, exit_on_user_error, to_plain
from behaviorlab.apps.promotion import GATE_FILE
from behaviorlab.apps.schemas import register_schemas
from behaviorlab.apps.train import HOLDOUT_FILE
from behaviorlab.errors import ConfigError
from behaviorlab.modeling.compare import (
    DIFFERENCE_METRICS,
    compare_to_baseline,
    label_runs,
    metrics_table,
    shared_rows,
)
from behaviorlab.modeling.compare_page import build_page, draw_curves
from behaviorlab.tracking import lookup, runs

PAGE_FILE = "compare.html"
WANTED = (HOLDOUT_FILE, GATE_FILE)


@entry_point
def main() -> None:
    """Console entry point: register the typed schemas, then let Hydra compose and run."""
    register_schemas()
    compose_and_run()


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="compare")
def compose_and_run(cfg: DictConfig) -> None:
    """Compare the runs of one composed config."""
    run(cfg)


@exit_on_user_error
def run(cfg: DictConfig) -> dict[str, Any]:
    """Compare the runs; return the page's path, the comparison run and the differences.

    The config, the run ids and the runs' artifacts are checked before any run is opened.
    """
    check_config(cfg, COMPARE_RULES)
    tracking = to_plain(cfg.tracking)
    runs.configure(tracking["tracking_uri"])
    records = find_records(cfg)
    labels = label_runs([r.name for r in records], [r.run_id for r in records])
    table = metrics_table(labels, [r.metrics for r in records])
    with tempfile.TemporaryDirectory() as folder:
        holdout = {
            label: lookup.read_run_table(r.run_id, HOLDOUT_FILE, folder)
            for label, r in zip(labels, records, strict=True)
        }
        gate = {
            label: lookup.read_run_table(r.run_id, GATE_FILE, folder)
            if GATE_FILE in r.artifacts
            else None
            for label, r in zip(labels, records, strict=True)
        }
    level = float(cfg.ci_level)
    pairs = compare_to_baseline(gate, holdout, int(cfg.n_boot), int(cfg.seed), level)
    curve_rows = shared_rows(gate, holdout)
    figures = draw_curves(curve_rows, labels, int(cfg.n_bins))
    title = f"Comparison of {len(records)} runs against {labels[0]}"
    page = write_page(
        build_page(title, table, pairs, level, curve_rows, figures), Path(cfg.output_dir)
    )
    run_id = log_comparison(cfg, tracking, records, pairs, page)
    print_summary(table, pairs, page, run_id)
    differences = {pair.label: pair.differences for pair in pairs}
    return {"page": str(page), "run_id": run_id, "table": table, "differences": differences}


def find_records(cfg: DictConfig) -> list[lookup.RunRecord]:
    """The runs to compare, baseline first; every one known and holding its test rows."""
    run_ids = list(cfg.runs)
    if cfg.from_experiment:
        found = lookup.training_run_ids(cfg.from_experiment, int(cfg.max_runs))
        if found is None:
            raise ConfigError(f"from_experiment names no MLflow experiment: {cfg.from_experiment}")
        if len(found) < 2:
            raise ConfigError(
                f"from_experiment {cfg.from_experiment} has {len(found)} finished training "
                "run(s); a comparison needs at least two"
            )
        run_ids = found
    records = []
    for run_id in run_ids:
        record = lookup.find_run(run_id, WANTED)
        if record is None:
            raise ConfigError(f"runs names an unknown run id: {run_id}")
        if HOLDOUT_FILE not in record.artifacts:
            raise ConfigError(
                f"run {record.name} ({run_id}) has no {HOLDOUT_FILE}: not a training run"
            )
        records.append(record)
    return records


def write_page(page: str, folder: Path) -> Path:
    """Write the page under a temporary name and rename it into place (never half a page)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / PAGE_FILE
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=folder, suffix=".tmp", delete=False
    ) as handle:
        handle.write(page)
    os.replace(handle.name, target)
    return target


def log_comparison(cfg: DictConfig, tracking: dict, records, pairs, page: Path) -> str:
    """One run in the comparisons experiment: the page, the runs compared, the differences."""
    tags = {"kind": "compare", "compare.baseline": records[0].run_id}
    with runs.open_run(tracking, run_name=cfg.run_name, tags=tags) as opened:
        runs.log_params(
            {"n_runs": len(records), "runs": ",".join(r.run_id for r in records)[:6000]}
        )
        for index, pair in enumerate(pairs, start=1):
            runs.log_params({f"rows.{index}": pair.rows.describe()[:6000]})
            for name in DIFFERENCE_METRICS if pair.differences else ():
                found = pair.differences[name]
                runs.log_metrics(
                    {f"diff_{name}.{index}": found["point"]}
                    | {f"diff_{name}_{end}.{index}": found[end] for end in ("low", "high")}
                )
        runs.log_artifact(page)
        runs.describe_run(
            f"Comparison of {len(records)} runs (baseline `{records[0].name}`): "
            f"open `{PAGE_FILE}` in the artifacts."
        )
        return opened.info.run_id


def print_summary(table, pairs, page: Path, run_id: str) -> None:
    """The metrics table, each difference in ROC AUC, and where the page is."""
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    for pair in pairs:
        if pair.differences is None:
            print(f"{pair.label}: no difference ({pair.rows.describe()})")
            continue
        found = pair.differences["roc_auc"]
        print(
            f"{pair.label}: ROC AUC {found['point']:+.4f} "
            f"[{found['low']:+.4f}, {found['high']:+.4f}] on {pair.rows.describe()}"
        )
    print(f"page: {page}")
    print(f"comparison run: {run_id}")


if __name__ == "__main__":
    main()
