"""behaviorlab-score: probability, tier, action and readable reasons for every eligible
customer, from raw events at a cutoff or, for attribute-only models, from a customer table;
with a CLV model also each customer's lifetime value and value at risk."""

from pathlib import Path
from typing import Any

import duckdb
import hydra
import pandas as pd
from omegaconf import DictConfig

from behaviorlab.apps.checks import (
    SCORE_RULES,
    check_config,
    check_reason_tiers,
    output_folder,
)
from behaviorlab.apps.common import (
    CONF_DIR,
    entry_point,
    exit_on_user_error,
    open_dataset,
    to_plain,
)
from behaviorlab.apps.schemas import register_schemas
from behaviorlab.scoring.batch import (
    ScoringSummary,
    score_to_file,
    scoring_cutoff,
    scoring_snapshots,
)
from behaviorlab.scoring.customer_value import VALUE_AT_RISK, CustomerValue, FittedClv
from behaviorlab.scoring.predict import check_ranking, tier_levels
from behaviorlab.scoring.reasons import positive_outcomes
from behaviorlab.tracking import clv_models, models, runs


@entry_point
def main() -> None:
    """Console entry point: register the typed schemas, then let Hydra compose and run."""
    register_schemas()
    compose_and_run()


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="score")
def compose_and_run(cfg: DictConfig) -> None:
    """Score with one composed config."""
    run(cfg)


def parse_model_reference(reference: str) -> tuple[str, str]:
    """`churn@champion`, `churn/3` or `churn` as (name, alias or version)."""
    if "@" in reference:
        name, alias = reference.split("@", 1)
        return name, alias
    if "/" in reference:
        name, version = reference.rsplit("/", 1)
        return name, version
    return reference, "champion"


@exit_on_user_error
def run(cfg: DictConfig) -> dict[str, Any]:
    """Score, write the file (atomically), log a scoring run; return the summary.

    Config values and the model reference are checked before any data is read.
    """
    check_config(cfg, score_rules(cfg.engine.kind))
    tracking = to_plain(cfg.tracking)
    runs.configure(tracking["tracking_uri"])
    name, wanted = parse_model_reference(str(cfg.registered_model))
    version = models.resolve_reference(name, wanted, key="registered_model")
    model, spec = models.load_behavior_model(f"models:/{name}/{version}")
    check_reason_tiers(list(cfg.reason_tiers), tier_levels(spec["scoring"]["tiers"]))
    spec = ranked_spec(spec, str(cfg.rank_by))
    clv = load_clv_model(cfg.clv_model)
    check_ranking(spec["scoring"]["tiers"], clv is not None)
    dataset = open_dataset(cfg)
    cutoff = scoring_cutoff(cfg.cutoff, dataset.events, spec["task"])
    value = None if clv is None else CustomerValue.of_events(clv[2], cutoff, dataset.events)
    snapshots = scoring_snapshots(
        dataset.events, dataset.customers, spec["task"], cutoff, cfg.window_days
    )
    extra = {"model_name": name, "model_version": version, "scored_at": pd.Timestamp.now("UTC")}
    if clv is not None:
        extra |= {"clv_model_name": clv[0], "clv_model_version": clv[1]}
    path = Path(cfg.output.path)
    summary = score_dataset(cfg, model, spec, dataset, snapshots, path, extra, value)
    if cfg.output.duckdb.database:
        load_into_duckdb(path, cfg.output.duckdb.database, cfg.output.duckdb.table)
    outcome = positive_outcomes(spec["task"])
    result = {
        "rows": summary.rows,
        "tiers": summary.tier_counts,
        "tier_summary": summary.tiers,
        "outcome": outcome,
        "model_version": version,
        "cutoff": str(cutoff),
        "path": str(path),
    }
    if clv is not None:
        result |= {"clv_model_version": clv[1], "clv_total": summary.clv_total}
    log_scoring_run(tracking, cfg, name, version, cutoff, summary)
    print_summary(name, version, cutoff, path, summary, outcome)
    return result


def ranked_spec(spec: dict, rank_by: str) -> dict:
    """The model's spec with its tiers ranking customers as this job asks."""
    scoring = spec["scoring"]
    return spec | {"scoring": scoring | {"tiers": dict(scoring["tiers"]) | {"rank_by": rank_by}}}


def load_clv_model(reference: str | None) -> tuple[str, str, FittedClv] | None:
    """The CLV model ``clv_model`` names (name, version, fitted model); None without one.

    Resolved like ``registered_model``, before any data is read."""
    if not reference:
        return None
    name, wanted = parse_model_reference(str(reference))
    version = models.resolve_reference(name, wanted, key="clv_model")
    return name, version, clv_models.load_clv_model(f"models:/{name}/{version}")


def spark_clv(value: Any) -> str | None:
    """Spark scoring does not value customers yet."""
    if value is None:
        return None
    return "is not supported with engine=spark: value customers with engine=duckdb"


def spark_output(value: Any) -> str | None:
    """With engine=spark, output.path is the folder of Parquet files Spark writes."""
    if Path(str(value)).suffix == ".csv":
        return (
            f"is a CSV file ({value}); engine=spark writes a folder of Parquet files there "
            "(CSV: engine=duckdb)"
        )
    return output_folder(value)


def score_rules(engine_kind: str) -> dict:
    """The score app's checks; engine=spark writes a folder at output.path, not a file."""
    if engine_kind == "spark":
        return SCORE_RULES | {"output.path": spark_output, "clv_model": spark_clv}
    return SCORE_RULES


def score_dataset(
    cfg, model, spec, dataset, snapshots, path: Path, extra, value: CustomerValue | None = None
) -> ScoringSummary:
    """Score on the configured engine: DuckDB partition by partition into one file (valuing
    customers when a CLV model is given), or Spark into a folder of Parquet files (PySpark
    is imported only then)."""
    common = {
        "chunk_size": int(cfg.chunk_size),
        "reason_tiers": list(cfg.reason_tiers),
        "extra": extra,
        "psi_warn": float(cfg.psi_warn),
    }
    inputs = (model, spec, dataset.events, dataset.customers, snapshots, path)
    if cfg.engine.kind == "spark":
        from behaviorlab.scoring.spark import score_on_spark

        return score_on_spark(*inputs, **common)
    return score_to_file(
        *inputs,
        **common,
        progress=bool(cfg.progress),
        partition_customers=int(cfg.partition_customers),
        customer_value=value,
    )


def load_into_duckdb(path: Path, database: str, table: str) -> None:
    """Replace a DuckDB table with the scores (a file, or a folder of Parquet files) in
    one transaction."""
    reader = "read_csv_auto" if path.suffix == ".csv" else "read_parquet"
    source = str(path / "*.parquet") if path.is_dir() else str(path)
    with duckdb.connect(database) as con:
        con.execute("BEGIN")
        con.execute(f'CREATE OR REPLACE TABLE "{table}" AS SELECT * FROM {reader}(?)', [source])
        con.execute("COMMIT")


def log_scoring_run(tracking, cfg, name, version, cutoff, summary) -> None:
    """A scoring run: which model, which cutoff, customers and expected positives per tier,
    and drift (with the calendar features it leaves out)."""
    tags = {"model_name": name, "model_version": version, "kind": "scoring"}
    if summary.drift_excluded:
        tags["drift.excluded_calendar_features"] = ", ".join(summary.drift_excluded)
    sampled = drift_sample_rows(summary)
    if sampled is not None:
        tags["drift.sample_rows"] = str(sampled)
    with runs.open_run(tracking, f"score-{name}-v{version}", tags, cfg.experiment_name):
        runs.log_params(
            {
                "model": f"{name}/{version}",
                "cutoff": cutoff,
                "output": cfg.output.path,
                "engine": cfg.engine.kind,
                "clv_model": cfg.clv_model,
                "rank_by": cfg.rank_by,
            }
        )
        runs.log_metrics(
            {"rows": summary.rows}
            | {f"tier_{tier['tier']}": tier["customers"] for tier in summary.tiers}
            | {f"expected_{tier['tier']}": tier["expected"] for tier in summary.tiers}
            | {f"probability_{k}": v for k, v in summary.probability_quantiles.items()}
            | value_metrics(summary)
        )
        if summary.drift is not None and not summary.drift.empty:
            runs.log_metrics({"psi_max": float(summary.drift["psi"].max())})
            runs.log_table(summary.drift, "drift/psi.csv")


def value_metrics(summary: ScoringSummary) -> dict[str, float]:
    """The customers' total CLV and the value at risk per tier, when they were valued."""
    if summary.clv_total is None:
        return {}
    return {"clv_total": summary.clv_total} | {
        f"{VALUE_AT_RISK}_{tier['tier']}": tier[VALUE_AT_RISK] for tier in summary.tiers
    }


def drift_sample_rows(summary: ScoringSummary) -> int | None:
    """How many rows the drift was measured on when that is a sample (Spark), else None."""
    rows = getattr(summary, "drift_rows", None)
    return rows if rows is not None and rows < summary.rows else None


def tier_lines(tiers: list[dict], outcome: str) -> list[str]:
    """One line per tier: customers, expected positives and the playbook's action."""
    lines = []
    for tier in tiers:
        action = f" -> {tier['action']}" if tier["action"] else ""
        value = f", value at risk {tier[VALUE_AT_RISK]:,.0f}" if VALUE_AT_RISK in tier else ""
        lines.append(
            f"{tier['tier']:>8}: {tier['customers']:>9,} customers, "
            f"{tier['expected']:>9,.1f} expected {outcome}{value}{action}"
        )
    return lines


def print_summary(name, version, cutoff, path, summary, outcome) -> None:
    """Rows, tiers with expected positives, score distribution and drift, in a few lines."""
    quantiles = summary.probability_quantiles
    at = "" if cutoff is None else f" at {cutoff:%Y-%m-%d}"
    print(f"scored {summary.rows:,} customers{at} with {name} v{version}")
    for line in tier_lines(summary.tiers, outcome):
        print(f"  {line}")
    print(
        f"  probability: mean {quantiles['mean']:.3f}, median {quantiles['p50']:.3f}, "
        f"p90 {quantiles['p90']:.3f}"
    )
    if summary.clv_total is not None:
        print(f"  customer lifetime value: total {summary.clv_total:,.0f}")
    sampled = drift_sample_rows(summary)
    if summary.drift is not None and sampled is not None:
        print(f"  drift measured on a sample of {sampled:,} of {summary.rows:,} customers")
    if summary.drift is not None:
        warned = summary.drift[summary.drift["warning"]]
        for row in warned.itertuples():
            missing = f"missing {row.missing_train:.0%} -> {row.missing_now:.0%}"
            unseen = f"unseen levels {row.unseen_now:.0%}"
            print(
                f"  warning: feature {row.feature} drifted (PSI {row.psi:.2f}; {missing}, {unseen})"
            )
    if summary.drift_excluded:
        print(f"  drift not measured on calendar features: {', '.join(summary.drift_excluded)}")
    print(f"  scores: {path}")


if __name__ == "__main__":
    main()
