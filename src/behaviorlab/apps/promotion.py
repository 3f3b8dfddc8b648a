"""The promotion gate wired to the registry: shared by behaviorlab-train and -promote."""

import tempfile
from typing import Any

import pandas as pd
from omegaconf import DictConfig

from behaviorlab.apps.common import to_plain
from behaviorlab.data.sources import load_dataset
from behaviorlab.errors import ConfigError
from behaviorlab.features.builder import build_features
from behaviorlab.modeling.evaluation import bootstrap_auc_difference, compute_metrics
from behaviorlab.modeling.gate import Decision, decide_against_champion, decide_first_model
from behaviorlab.tracking import models

CHAMPION = "champion"
CHALLENGER = "challenger"
HOLDOUT_FILE = "holdout/holdout.parquet"
GATE_METRICS = ("roc_auc", "pr_auc", "brier", "log_loss")


def promote_version(cfg: DictConfig, name: str, version: str, dataset=None) -> dict[str, Any]:
    """Judge the challenger against the champion on the challenger's holdout; move aliases.

    The challenger's holdout probabilities are its own out-of-sample predictions (pooled
    out-of-fold under customer CV); the champion rebuilds the holdout's features from its
    own spec and scores them.
    """
    gate = to_plain(cfg.registry.gate)
    champion = models.version_for(name, CHAMPION)
    holdout = load_holdout(name, version)
    challenger_p = holdout["probability"].to_numpy()
    if champion is None or champion == version:
        decision = decide_first_model(holdout_metrics(holdout, challenger_p), gate)
    else:
        dataset = dataset or load_dataset(to_plain(cfg.data))
        champion_p = score_holdout(name, champion, holdout, dataset)
        labels = holdout["label"].to_numpy()
        difference = bootstrap_auc_difference(
            labels, challenger_p, champion_p, n_boot=gate["n_boot"], seed=gate["seed"]
        )
        decision = decide_against_champion(
            holdout_metrics(holdout, challenger_p),
            holdout_metrics(holdout, champion_p),
            difference,
            gate,
        )
    return apply_decision(name, version, champion, decision)


def load_holdout(name: str, version: str) -> pd.DataFrame:
    """The test snapshots (customer_id, cutoff, label, probability) the version was judged on."""
    run_id = models.version_info(name, version)["run_id"]
    with tempfile.TemporaryDirectory() as folder:
        return pd.read_parquet(models.download_run_artifact(run_id, HOLDOUT_FILE, folder))


def score_holdout(name: str, version: str, holdout: pd.DataFrame, dataset) -> Any:
    """Rebuild features for the holdout snapshots with the version's own spec and score them."""
    model, spec = models.load_behavior_model(f"models:/{name}/{version}")
    snapshots = holdout[["customer_id", "cutoff"]]
    features = build_features(dataset.events, dataset.customers, snapshots, spec["features"])
    aligned = snapshots.merge(features, on=["customer_id", "cutoff"], how="left")
    missing = [column for column in spec["feature_names"] if column not in aligned.columns]
    if missing:
        raise ConfigError(f"model {name} v{version} needs features the data lacks: {missing}")
    return model.predict_proba(aligned[spec["feature_names"]])


def holdout_metrics(holdout: pd.DataFrame, probability) -> dict[str, float]:
    """The gate metric and its guards on one set of predictions."""
    metrics = compute_metrics(holdout["label"].to_numpy(), probability, threshold=0.5)
    return {key: metrics[key] for key in GATE_METRICS}


def apply_decision(name: str, version: str, champion: str | None, decision: Decision) -> dict:
    """Set aliases, tag the version and return the one line that reports the decision."""
    if decision.promote:
        models.set_alias(name, CHAMPION, version)
        tags = {"previous_champion": champion or ""}
    else:
        models.set_alias(name, CHALLENGER, version)
        tags = {}
    verdict = "promoted to champion" if decision.promote else "kept as challenger"
    tags |= {
        "gate.decision": verdict,
        "gate.reason": decision.reason,
        **{f"gate.{key}": round(value, 6) for key, value in decision.figures.items()},
    }
    models.tag_version(name, version, tags)
    line = f"{name} v{version} {verdict}: {decision.reason}"
    return {"promoted": decision.promote, "decision_line": line, "champion_before": champion}


def rollback(name: str) -> str:
    """Point champion back at the version it replaced; return that version."""
    current = models.version_for(name, CHAMPION)
    if current is None:
        raise ConfigError(f"registered model {name!r} has no champion to roll back")
    previous = models.version_info(name, current)["tags"].get("previous_champion")
    if not previous:
        raise ConfigError(
            f"{name} v{current} replaced no earlier champion; nothing to roll back to"
        )
    models.set_alias(name, CHAMPION, previous)
    models.tag_version(name, current, {"gate.decision": f"rolled back to v{previous}"})
    print(f"{name}: champion rolled back from v{current} to v{previous}")
    return previous
