"""The promotion gate end to end: unseen rows, verified provenance, registry failures."""

import shutil
import tempfile

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import TEMPORARILY_UNAVAILABLE
from mlflow.tracking import MlflowClient

from behaviorlab.apps import promote, train
from behaviorlab.apps.promotion import GATE_FILE
from behaviorlab.errors import RegistryError
from behaviorlab.modeling.gate_holdout import gate_customer_mask
from behaviorlab.tracking import models
from tests.e2e.test_train_variants import attribute_overrides, write_customer_table
from tests.helpers import compose_config, small_sim_overrides, train_small_version

pytestmark = pytest.mark.slow
NAME = "churn-sim"


def promote_version(data_dir, version: str) -> dict:
    overrides = [*small_sim_overrides(data_dir), f"version={version}", "registry.gate.n_boot=200"]
    return promote.run(compose_config("promote", overrides))


@pytest.fixture(scope="module")
def trained(small_sim_dir, tmp_path_factory):
    """One champion in its own store, and the table the training job handed to train_model."""
    root = tmp_path_factory.mktemp("gate-champion")
    store = root / "mlruns" / "mlflow.db"
    store.parent.mkdir()
    seen = {}
    real_train_model = train.train_model

    def recording_train_model(table, *args, **kwargs):
        seen["table"] = table.copy()
        return real_train_model(table, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
        patch.setenv("MLFLOW_REGISTRY_URI", f"sqlite:///{store}")
        patch.setenv("BEHAVIORLAB_ROOT", str(root))
        mlflow.set_tracking_uri(f"sqlite:///{store}")
        mlflow.set_registry_uri(f"sqlite:///{store}")
        patch.setattr(train, "train_model", recording_train_model)
        outcome = train_small_version(small_sim_dir)
        run = MlflowClient().get_run(outcome["run_id"])
        with tempfile.TemporaryDirectory() as folder:
            path = models.download_run_artifact(outcome["run_id"], GATE_FILE, folder)
            gate_rows = pd.read_parquet(path)
    assert outcome["promoted"], outcome["decision_line"]
    return {
        "store": store,
        "outcome": outcome,
        "table": seen["table"],
        "gate_rows": gate_rows,
        "run": run,
    }


@pytest.fixture
def champion(trained, mlflow_store):
    """This test's store starts as a copy of the champion store (artifacts stay shared)."""
    shutil.copy(trained["store"], mlflow_store.removeprefix("sqlite:///"))
    mlflow.set_tracking_uri(mlflow_store)
    mlflow.set_registry_uri(mlflow_store)
    return trained


def register_duplicate(version: str = "1") -> str:
    """Register the champion's own model again, with its provenance tags: a perfect duplicate."""
    client = MlflowClient()
    original = client.get_model_version(NAME, version)
    tags = {k: v for k, v in original.tags.items() if not k.startswith("gate.")}
    return str(
        client.create_model_version(NAME, original.source, original.run_id, tags=tags).version
    )


def champion_version() -> str:
    return str(MlflowClient().get_model_version_by_alias(NAME, "champion").version)


def test_training_never_sees_a_gate_customer(champion):
    table, gate_rows = champion["table"], champion["gate_rows"]
    assert not gate_customer_mask(table["customer_id"], 0.15, "gate").any()
    assert gate_customer_mask(gate_rows["customer_id"], 0.15, "gate").all()
    assert not set(gate_rows["customer_id"]) & set(table["customer_id"])
    assert len(gate_rows) > 100
    assert gate_rows["cutoff"].nunique() == 1
    assert gate_rows["cutoff"].max() >= table["cutoff"].max()
    assert gate_rows["probability"].between(0, 1).all()
    assert champion["run"].data.params["data.rows"] == str(len(table))
    tags = MlflowClient().get_model_version(NAME, "1").tags
    assert tags["gate_holdout.salt"] == "gate"
    assert tags["gate_holdout.fraction"] == "0.15"
    assert tags["data_fingerprint"]
    assert tags["gate.decision"] == "promoted to champion"
    provenance = mlflow.artifacts.load_dict(
        f"runs:/{champion['outcome']['run_id']}/{train.PROVENANCE_FILE}"
    )
    assert provenance["cutoff_max"] == str(table["cutoff"].max())
    assert provenance["data_fingerprint"] == tags["data_fingerprint"]
    assert len(provenance["feature_names_hash"]) == 16


def test_a_duplicate_of_the_champion_is_not_promoted(small_sim_dir, champion):
    version = register_duplicate()
    outcome = promote_version(small_sim_dir, version)
    assert not outcome["promoted"]
    assert "identical" in outcome["decision_line"]
    assert champion_version() == "1"
    found = MlflowClient().get_model_version(NAME, version)
    assert found.tags["gate.decision"] == "kept as challenger"
    assert outcome["gate_figures"]["difference"] == 0.0
    assert "| difference | 0.0000 |" in found.description


def test_a_registry_failure_promotes_nothing_and_exits_1(
    small_sim_dir, champion, monkeypatch, capsys
):
    version = register_duplicate()

    def unavailable(self, name, alias):
        raise MlflowException("registry is restarting", TEMPORARILY_UNAVAILABLE)

    with monkeypatch.context() as patch:
        patch.setattr(MlflowClient, "get_model_version_by_alias", unavailable)
        with pytest.raises(SystemExit) as stopped:
            promote_version(small_sim_dir, version)
    assert stopped.value.code == 1
    assert "TEMPORARILY_UNAVAILABLE" in capsys.readouterr().err
    assert champion_version() == "1"
    tags = MlflowClient().get_model_version(NAME, version).tags
    assert tags["gate.decision"] == "error"
    assert "restarting" in tags["gate.reason"]


def test_only_a_missing_alias_or_model_means_no_champion(champion, monkeypatch):
    assert models.version_for(NAME, "challenger") is None
    assert models.version_for("no-such-model", "champion") is None
    assert models.version_for(NAME, "champion") == "1"

    def broken(self, name, alias):
        raise MlflowException("database is locked")

    monkeypatch.setattr(MlflowClient, "get_model_version_by_alias", broken)
    with pytest.raises(RegistryError, match="database is locked"):
        models.version_for(NAME, "champion")


def test_a_champion_without_provenance_is_not_replaced(small_sim_dir, champion):
    client = MlflowClient()
    client.delete_model_version_tag(NAME, "1", "gate_holdout.salt")
    version = register_duplicate()
    client.set_model_version_tag(NAME, version, "gate_holdout.salt", "gate")
    outcome = promote_version(small_sim_dir, version)
    assert not outcome["promoted"]
    assert "champion v1 records no gate holdout" in outcome["decision_line"]
    assert champion_version() == "1"
    tags = client.get_model_version(NAME, version).tags
    assert tags["gate.decision"] == "kept as challenger"
    assert "gate_holdout.salt" in tags["gate.reason"]


def test_a_champion_with_another_salt_is_not_replaced(small_sim_dir, champion):
    client = MlflowClient()
    client.set_model_version_tag(NAME, "1", "gate_holdout.salt", "older")
    version = register_duplicate()
    client.set_model_version_tag(NAME, version, "gate_holdout.salt", "gate")
    outcome = promote_version(small_sim_dir, version)
    assert not outcome["promoted"]
    assert "gate_holdout.salt 'gate' vs champion's 'older'" in outcome["decision_line"]
    assert champion_version() == "1"


def test_attribute_models_get_their_own_names_and_incomparable_ones_are_tagged(tmp_path):
    crm, shop, crm_v2 = (tmp_path / f"{name}.parquet" for name in ("crm", "shop", "crm_v2"))
    write_customer_table(crm, seed=3)
    write_customer_table(shop, seed=4)
    write_customer_table(crm_v2, seed=5)
    renamed = pd.read_parquet(crm_v2).rename(columns={"tenure_days": "age_days"})
    renamed.to_parquet(crm_v2, index=False)

    first = train.run(compose_config("train", attribute_overrides(crm, "crm")))
    other = train.run(compose_config("train", attribute_overrides(shop, "shop")))
    assert first["model_name"] == "attributes-crm"
    assert other["model_name"] == "attributes-shop"
    assert first["promoted"], first["decision_line"]
    assert other["promoted"], other["decision_line"]

    second = train.run(compose_config("train", attribute_overrides(crm_v2, "crm")))
    assert second["model_name"] == "attributes-crm"
    assert not second["promoted"]
    assert "tenure_days" in second["decision_line"]
    client = MlflowClient()
    tags = client.get_model_version("attributes-crm", second["model_version"]).tags
    assert tags["gate.decision"] == "not comparable"
    assert "tenure_days" in tags["gate.reason"]
    champion = client.get_model_version_by_alias("attributes-crm", "champion")
    assert str(champion.version) == first["model_version"]


def test_under_customer_cv_a_real_model_replaces_a_permuted_label_champion(small_sim_dir):
    cv = ["split=customer_cv", "split.n_folds=3", "task.snapshots.start=2025-01-01"]
    null = train_small_version(small_sim_dir, *cv, "permute_labels=true", "registry.gate.floor=0.0")
    assert null["promoted"], null["decision_line"]
    real = train_small_version(small_sim_dir, *cv)
    assert real["promoted"], real["decision_line"]
    assert champion_version() == real["model_version"]
    assert real["gate_figures"]["ci_low"] > 0
    assert np.isfinite(real["gate_figures"]["rows"])
    description = MlflowClient().get_model_version(NAME, real["model_version"]).description
    assert "**promoted to champion**" in description
    assert "| ci_low |" in description
