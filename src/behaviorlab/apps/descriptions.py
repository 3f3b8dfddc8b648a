"""The markdown a reviewer reads first: a training run's description and a version's.

Pure text from plain values; the apps write it through ``tracking`` (a run's
``mlflow.note.content``, a registered version's description).
"""

from collections.abc import Mapping
from typing import Any

GATE_HEADING = "### Gate"
TRAINING_HEADING = "### Training"


def format_figure(value: Any) -> str:
    """A number as a reader wants it: four decimals for fractions, thousands for counts."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if float(value).is_integer() and abs(value) >= 1:
        return f"{int(value):,}"
    return f"{value:.4f}"


def headline_line(metrics: Mapping[str, float], level: float) -> str:
    """Test ROC AUC with its interval, PR AUC and Brier on one line."""
    interval = ""
    if "roc_auc_ci_low" in metrics:
        interval = (
            f" ({level:.0%} interval {metrics['roc_auc_ci_low']:.4f} to "
            f"{metrics['roc_auc_ci_high']:.4f})"
        )
    return (
        f"**Test ROC AUC {metrics['roc_auc']:.4f}**{interval}, PR AUC {metrics['pr_auc']:.4f}, "
        f"Brier {metrics['brier']:.4f} (base rate {metrics['base_rate']:.4f})"
    )


def data_line(data: Mapping[str, Any]) -> str:
    """Which data, its fingerprint and its sizes."""
    return (
        f"**Data** `{data['name']}` (fingerprint `{data['fingerprint']}`): "
        f"{data['rows']:,} rows, {data['customers']:,} customers (gate holdout excluded), "
        f"{data['cutoffs']} cutoffs ({data['cutoff_min']} to {data['cutoff_max']}), "
        f"{data['features']} features, label rate {data['label_rate']:.4f}"
        + (" (training table from cache)" if data.get("from_cache") else "")
    )


def split_line(kind: str, summary: Mapping[str, float]) -> str:
    """The split and the rows in each part (mean fold under CV, test rows summed)."""
    parts = ", ".join(
        f"{part} {summary[f'{part}_rows']:,.0f}"
        for part in ("train", "valid", "calibrate", "test")
        if f"{part}_rows" in summary
    )
    folds = f", {summary['n_splits']} folds" if summary.get("n_splits", 1) > 1 else ""
    return f"**Split** {kind}{folds}: {parts} rows; tuning on {summary['tuning_rows']:,} rows"


def tuning_line(study: str, ran: int, reused: int) -> str:
    """Where the hyperparameters came from and how much of that work this run did."""
    return f"**Tuning** study `{study}`: {ran} trials run, {reused} reused"


def describe_training_run(
    run_name: str,
    metrics: Mapping[str, float],
    level: float,
    data: Mapping[str, Any],
    split: tuple[str, Mapping[str, float]],
    tuning: tuple[str, int, int],
    gate_line: str,
) -> str:
    """The run's description: headline, data, split, tuning and the gate's decision."""
    lines = [
        f"## {run_name}",
        headline_line(metrics, level),
        data_line(data),
        split_line(*split),
        tuning_line(*tuning),
        f"**Gate** {gate_line}",
        "Plots under `plots/`, previewable tables under `tables/`, the resolved config "
        "under `config/`.",
    ]
    return "\n\n".join(lines)


def describe_trained_version(
    run_name: str,
    run_id: str,
    metrics: Mapping[str, float],
    level: float,
    data: Mapping[str, Any],
    provenance_file: str,
) -> str:
    """The training part of a version's description (the gate's part goes above it)."""
    lines = [
        TRAINING_HEADING,
        f"Run `{run_name}` (`{run_id}`)",
        headline_line(metrics, level),
        data_line(data),
        f"Provenance (cutoffs, feature names hash, holdout): `{provenance_file}` on the run",
    ]
    return "\n\n".join(lines)


def describe_gate(
    verdict: str, reason: str, champion: str | None, figures: Mapping[str, Any]
) -> str:
    """The gate's part of a version's description: decision, reason and figures.

    It opens with the decision in plain words, since the registry's versions list shows
    only a description's first line."""
    lines = [
        f"**{verdict}**: {reason}",
        GATE_HEADING,
        f"Champion before the decision: {f'v{champion}' if champion else 'none'}",
    ]
    if figures:
        rows = "\n".join(f"| {key} | {format_figure(value)} |" for key, value in figures.items())
        lines.append(f"| figure | value |\n|---|---|\n{rows}")
    return "\n\n".join(lines)


def with_gate(description: str, gate: str) -> str:
    """A version's description with its gate part replaced by ``gate`` (training part kept)."""
    start = description.find(TRAINING_HEADING)
    training = description[start:] if start >= 0 else ""
    return "\n\n".join(part for part in (gate, training) if part)
