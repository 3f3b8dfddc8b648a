"""The promotion gate wired to the registry: shared by behaviorlab-train and -promote.

The challenger and the champion are compared on the challenger's gate rows: customers in
the gate holdout (a salted hash of customer_id that every training job for the registered
name excludes), so neither model saw them. The gate checks that this holds (both versions
record the same holdout salt and fraction) before it compares anything, and every version
it touches ends with a ``gate.decision`` tag and a description that gives the decision,
its reason and figures.
"""

import contextlib
import tempfile
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from behaviorlab.apps.common import open_dataset, to_plain
from behaviorlab.apps.descriptions import describe_gate, with_gate
from behaviorlab.data.contract import CUSTOMER_ID, CUTOFF, LABEL, SIGNUP_AT
from behaviorlab.errors import BehaviorlabError, ConfigError, DataValidationError, RegistryError
from behaviorlab.features.builder import (
    build_features,
    enabled_event_families,
    extra_columns,
)
from behaviorlab.modeling.evaluation import bootstrap_differences, compute_metrics
from behaviorlab.modeling.gate import Decision, decide_against_champion, decide_first_model
from behaviorlab.tracking import models, versions

CHAMPION = "champion"
CHALLENGER = "challenger"
GATE_FILE = "gate/gate_rows.parquet"
GATE_METRICS = ("roc_auc", "pr_auc", "brier", "log_loss")
HOLDOUT_TAGS = ("gate_holdout.salt", "gate_holdout.fraction")
PROMOTED = "promoted to champion"
KEPT = "kept as challenger"
NOT_COMPARABLE = "not comparable"
ERROR = "error"
NOT_GATED = "not gated"


class NotComparable(BehaviorlabError):
    """The champion cannot be scored on the challenger's gate rows (the reason says why)."""


def promote_version(cfg: DictConfig, name: str, version: str, dataset=None) -> dict[str, Any]:
    """Gate ``version`` against the champion and move the aliases; never leave it undecided.

    Should the gate itself fail, the version is tagged ``gate.decision=error`` with the
    reason before the error goes on up (a registry failure stops the job, promoting nothing).
    Decisions on one registered name are serialised, so two jobs finishing together never
    both judge against the same champion and both promote.
    """
    try:
        with models.gate_lock(name):
            return judge_version(cfg, name, version, dataset)
    except Exception as error:
        record_error(name, version, error)
        raise


def judge_version(cfg: DictConfig, name: str, version: str, dataset) -> dict[str, Any]:
    """Decide on verified, comparable evidence, or refuse and say why."""
    gate = to_plain(cfg.registry.gate)
    champion = models.version_for(name, CHAMPION)
    if champion == version:
        line = f"{name} v{version} is already the champion; nothing to decide"
        return {"promoted": False, "decision_line": line, "champion_before": champion}
    tags = models.version_info(name, version)["tags"]
    missing = [key for key in HOLDOUT_TAGS if key not in tags]
    if missing:
        reason = f"v{version} records no gate holdout ({', '.join(missing)}): rows unverifiable"
        return apply_decision(name, version, champion, Decision(False, reason, {}))
    rows = load_gate_rows(name, version)
    if rows[LABEL].nunique() < 2:
        reason = f"the {len(rows)} gate rows do not hold both label classes: nothing to judge on"
        return apply_decision(name, version, champion, Decision(False, reason, {}))
    challenger_p = rows["probability"].to_numpy()
    if champion is None:
        decision = decide_first_model(gate_metrics(rows, challenger_p), gate)
        return apply_decision(name, version, champion, decision)
    unverified = holdout_mismatch(tags, models.version_info(name, champion)["tags"], champion)
    if unverified:
        return apply_decision(name, version, champion, Decision(False, unverified, {}))
    dataset = dataset or open_dataset(cfg)
    trained_on = tags.get("data_fingerprint")
    if trained_on and trained_on != dataset.fingerprint:
        raise ConfigError(
            f"{name} v{version} was trained on data {trained_on}, not on this data "
            f"({dataset.fingerprint}): gate it with the data config it was trained with"
        )
    try:
        champion_p = score_gate_rows(name, champion, rows, dataset)
    except NotComparable as error:
        decision = Decision(False, str(error), {})
        return apply_decision(name, version, champion, decision, verdict=NOT_COMPARABLE)
    decision = compare(rows, challenger_p, champion_p, gate)
    return apply_decision(name, version, champion, decision)


def compare(rows: pd.DataFrame, challenger_p, champion_p, gate: dict) -> Decision:
    """The paired bootstrap of both models on the same gate rows, then the pure decision."""
    differences = bootstrap_differences(
        rows[LABEL].to_numpy(),
        challenger_p,
        champion_p,
        n_boot=int(gate["n_boot"]),
        seed=int(gate["seed"]),
        alpha=float(gate["alpha"]),
    )
    decision = decide_against_champion(
        gate_metrics(rows, challenger_p),
        gate_metrics(rows, champion_p),
        differences,
        gate,
        identical=bool(np.array_equal(challenger_p, champion_p)),
    )
    figures = decision.figures | {"rows": len(rows)}
    return Decision(decision.promote, decision.reason, figures)


def holdout_mismatch(challenger_tags: dict, champion_tags: dict, champion: str) -> str | None:
    """Why the gate rows cannot be verified as unseen by the champion; None when they can."""
    missing = [key for key in HOLDOUT_TAGS if key not in champion_tags]
    if missing:
        return (
            f"champion v{champion} records no gate holdout ({', '.join(missing)}): cannot "
            "verify that it never trained on the gate rows"
        )
    differing = [
        f"{key} {challenger_tags[key]!r} vs champion's {champion_tags[key]!r}"
        for key in HOLDOUT_TAGS
        if str(challenger_tags[key]) != str(champion_tags[key])
    ]
    if differing:
        return (
            f"gate holdout differs from champion v{champion} ({'; '.join(differing)}): "
            "the gate rows may be rows the champion trained on"
        )
    return None


def load_gate_rows(name: str, version: str) -> pd.DataFrame:
    """The gate rows (customer_id, cutoff, label, probability) the version scored."""
    run_id = models.version_info(name, version)["run_id"]
    with tempfile.TemporaryDirectory() as folder:
        return pd.read_parquet(models.download_run_artifact(run_id, GATE_FILE, folder))


def missing_inputs(spec: dict, dataset) -> list[str]:
    """Data the feature spec reads that the dataset lacks (tables or columns)."""
    features = spec["features"]
    missing = []
    if enabled_event_families(features):
        if dataset.events is None:
            missing.append("the event log")
        else:
            missing += [c for c in extra_columns(features) if c not in dataset.events.columns]
    attributes = features["attributes"]
    if attributes["enabled"]:
        wanted = [c["name"] for c in attributes["columns"]]
        wanted += [SIGNUP_AT] if attributes.get("signup") else []
        if dataset.customers is None:
            missing.append("the customer table")
        else:
            missing += [c for c in wanted if c not in dataset.customers.columns]
    return missing


def score_gate_rows(name: str, version: str, rows: pd.DataFrame, dataset) -> np.ndarray:
    """Rebuild features for the gate rows with the version's own spec and score them."""
    model, spec = models.load_behavior_model(f"models:/{name}/{version}")
    missing = missing_inputs(spec, dataset)
    if missing:
        raise NotComparable(
            f"champion v{version}'s features cannot be built from this data, which lacks "
            f"{', '.join(missing)}"
        )
    snapshots = rows[[CUSTOMER_ID, CUTOFF]]
    features = build_features(dataset.events, dataset.customers, snapshots, spec["features"])
    aligned = snapshots.merge(features, on=[CUSTOMER_ID, CUTOFF], how="left")
    absent = [column for column in spec["feature_names"] if column not in aligned.columns]
    if absent:
        raise NotComparable(f"champion v{version} needs feature columns the data lacks: {absent}")
    try:
        return model.predict_proba(aligned[spec["feature_names"]])
    except DataValidationError as error:  # e.g. category levels the champion never saw
        raise NotComparable(f"champion v{version} cannot score the gate rows: {error}") from None


def gate_metrics(rows: pd.DataFrame, probability) -> dict[str, float]:
    """The gate metric and its guards on one set of predictions."""
    metrics = compute_metrics(rows[LABEL].to_numpy(), probability, threshold=0.5)
    return {key: metrics[key] for key in GATE_METRICS}


def apply_decision(
    name: str, version: str, champion: str | None, decision: Decision, verdict: str = ""
) -> dict:
    """Set aliases, record the decision on the version and return the line that reports it.

    The version keeps few tags (what the gate and rollback read); the reason in full, the
    champion it was judged against and the figures go into its description. A caller the
    tracking server does not allow to move champion leaves the version as challenger, and
    the reason says who may promote it.
    """
    refusal = models.champion_refusal(name) if decision.promote else None
    if refusal:
        reason = f"the gate would promote it ({decision.reason}), but {refusal}"
        decision = Decision(False, reason, decision.figures)
    if decision.promote:
        models.set_alias(name, CHAMPION, version)
        tags = {"previous_champion": champion or ""}
    else:
        models.set_alias(name, CHALLENGER, version)
        tags = {}
    verdict = verdict or (PROMOTED if decision.promote else KEPT)
    figures = {key: round(float(value), 6) for key, value in decision.figures.items()}
    tags |= {"gate.decision": verdict, "gate.reason": decision.reason}
    record_decision(name, version, tags, describe_gate(verdict, decision.reason, champion, figures))
    line = f"{name} v{version} {verdict}: {decision.reason}"
    return {
        "promoted": decision.promote,
        "decision_line": line,
        "champion_before": champion,
        "gate_figures": figures,
    }


def record_decision(name: str, version: str, tags: dict, gate_markdown: str) -> None:
    """Tag the version and put the gate's part at the top of its description."""
    models.tag_version(name, version, tags)
    current = versions.read_description(name, version)
    versions.describe_version(name, version, with_gate(current, gate_markdown))


def record_error(name: str, version: str, error: Exception) -> None:
    """Record ``gate.decision=error``; if even that fails, the original error wins."""
    reason = str(error)[:1000]
    with contextlib.suppress(RegistryError):
        record_decision(
            name,
            version,
            {"gate.decision": ERROR, "gate.reason": reason},
            describe_gate(ERROR, reason, None, {}),
        )


def record_not_gated(name: str, version: str, reason: str) -> dict:
    """A version registered without running the gate still says so, and why."""
    tags = {"gate.decision": NOT_GATED, "gate.reason": reason}
    record_decision(name, version, tags, describe_gate(NOT_GATED, reason, None, {}))
    return {"promoted": False, "decision_line": f"{name} v{version} not gated: {reason}"}


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
    refusal = models.champion_refusal(name)
    if refusal:
        raise models.PermissionRefused(f"cannot roll back {name}: {refusal}")
    models.set_alias(name, CHAMPION, previous)
    verdict = f"rolled back to v{previous}"
    reason = f"champion moved back from v{current} to v{previous} by behaviorlab-promote"
    record_decision(
        name, current, {"gate.decision": verdict}, describe_gate(verdict, reason, current, {})
    )
    print(f"{name}: champion rolled back from v{current} to v{previous}")
    return previous
