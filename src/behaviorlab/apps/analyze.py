"""behaviorlab-analyze: run the configured analyses, write their outputs, log one MLflow run."""

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import hydra
import pandas as pd
from omegaconf import DictConfig

from behaviorlab.analysis.engine import Table, query
from behaviorlab.analysis.pipeline import ANALYSES, Inputs, Result
from behaviorlab.analysis.report import Section, render_report
from behaviorlab.apps.checks import ANALYZE_RULES, check_config
from behaviorlab.apps.common import (
    CONF_DIR,
    entry_point,
    exit_on_user_error,
    open_dataset,
    to_plain,
)
from behaviorlab.apps.schemas import register_schemas
from behaviorlab.data.contract import CUSTOMER_ID
from behaviorlab.errors import ConfigError
from behaviorlab.tracking import runs


@exit_on_user_error
def run(cfg: DictConfig) -> dict[str, Any]:
    """Load the data, run each configured analysis, write and log the outputs.

    The events stay a lazy table over the staged event log: every analysis reduces them
    in the engine. Returns the metrics, the output folder and the report path.
    """
    check_config(cfg, ANALYZE_RULES)
    sections = to_plain(cfg.analysis) or {}
    settings = {name: section for name, section in sections.items() if section is not None}
    chosen = [name for name in ANALYSES if name in settings]
    unknown = sorted(set(settings) - set(ANALYSES))
    if unknown or not chosen:
        raise ConfigError(f"unknown analyses {unknown}; choose from {list(ANALYSES)} or all")
    data_cfg = to_plain(cfg.data)
    dataset = open_dataset(cfg)
    if dataset.events is None:
        raise ConfigError("the analyses need an event log; this data config has `events: null`")
    inputs = Inputs(
        events=dataset.events,
        customers=dataset.customers,
        data_end=dataset.data_end,
        truth=read_truth(cfg.get("truth_path"), data_cfg),
        assignments=dataset.assignments,
    )
    results = [ANALYSES[name](inputs, settings[name]) for name in chosen]
    title = f"Behavioural analyses: {dataset.name}"
    subtitle = (
        f"{dataset.event_rows:,} events of {count_customers(dataset.events):,} customers, "
        f"{dataset.data_start:%Y-%m-%d} to {dataset.data_end:%Y-%m-%d}; "
        f"data fingerprint {dataset.fingerprint}."
    )
    folder = write_outputs(Path(cfg.output_dir), results, title, subtitle)
    metrics = {key: value for result in results for key, value in result.metrics.items()}
    tracking = {key: cfg.tracking.get(key) for key in ("tracking_uri", "artifact_location")}
    with runs.open_run(
        tracking,
        cfg.run_name,
        tags={"analyses": ",".join(chosen), "data": dataset.name},
        experiment_name=cfg.experiment_name,
    ):
        runs.log_params({"data_fingerprint": dataset.fingerprint, **flatten(settings)})
        runs.log_metrics(metrics)
        runs.log_artifacts(folder)
    return {**metrics, "output_dir": str(folder), "report": str(folder / "report.html")}


def count_customers(events: Table) -> int:
    """Distinct customers in the events, counted by the engine."""
    counted = query(f"select count(distinct {CUSTOMER_ID}) as n from events", events=events)
    return int(counted["n"].iloc[0])


def read_truth(truth_path: str | None, data_cfg: dict) -> pd.DataFrame | None:
    """Known segments: the configured file, or truth.parquet beside the events file."""
    if truth_path:
        path = Path(truth_path)
    else:
        events_path = (data_cfg.get("events") or {}).get("path")
        path = Path(events_path).parent / "truth.parquet" if events_path else None
    if path is None or not path.exists():
        return None
    truth = pd.read_parquet(path)
    return truth.assign(customer_id=truth["customer_id"].astype("str"))


def write_outputs(folder: Path, results: list[Result], title: str, subtitle: str) -> Path:
    """Tables (Parquet, CSV), charts (PNG), briefs (Markdown) and report.html, in one folder.

    Everything is written to a temporary sibling folder that is renamed into place at the
    end, so a folder that exists is always complete.
    """
    target = unique_folder(folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        sections = [write_result(staging, result) for result in results]
        (staging / "report.html").write_text(render_report(title, subtitle, sections), "utf-8")
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def unique_folder(folder: Path) -> Path:
    """The folder itself, or with a -2, -3... suffix when a run already used the name."""
    candidate, number = folder, 1
    while candidate.exists():
        number += 1
        candidate = folder.with_name(f"{folder.name}-{number}")
    return candidate


def write_result(staging: Path, result: Result) -> Section:
    """One analysis's files under its own subfolder; returns its report section."""
    out = staging / result.name
    out.mkdir()
    for name, table in {**result.tables, **result.details}.items():
        table.to_parquet(out / f"{name}.parquet", index=False)
        table.to_csv(out / f"{name}.csv", index=False)
    charts = []
    for name, figure in result.figures.items():
        figure.savefig(out / f"{name}.png")
        charts.append(out / f"{name}.png")
    if result.text:
        (out / "brief.md").write_text(result.text, "utf-8")
    shown = [(name.replace("_", " "), table) for name, table in result.tables.items()]
    return Section(result.title, result.text, shown, charts)


def flatten(settings: dict, prefix: str = "") -> dict[str, Any]:
    """Nested settings as dotted keys, for MLflow parameters (presets are already applied)."""
    flat = {}
    for key, value in settings.items():
        if key == "presets":
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


@entry_point
def main() -> None:
    """Console entry point: register the typed schemas, then let Hydra compose and run."""
    register_schemas()
    compose_and_run()


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="analyze")
def compose_and_run(cfg: DictConfig) -> None:
    """Run one composed config; print where the report is."""
    result = run(cfg)
    print(f"analyses written to {result['output_dir']}\nreport: {result['report']}")


if __name__ == "__main__":
    main()
