"""Registry lifecycle and batch scoring against a real store, registry and LightGBM models."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from behaviorlab.apps import promote, score
from behaviorlab.apps.common import to_plain
from behaviorlab.data.sources import load_dataset
from behaviorlab.features.builder import build_features
from behaviorlab.scoring.batch import default_cutoff, scoring_snapshots
from behaviorlab.tracking.models import load_behavior_model
from tests.helpers import (
    compose_config,
    free_port,
    post_json,
    small_sim_overrides,
    strict_json,
    train_small_version,
    wait_until_up,
)

pytestmark = pytest.mark.slow
SCRIPTS = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]


def script_env() -> dict[str, str]:
    """The test's environment with this virtualenv's scripts first on PATH."""
    return os.environ | {"PATH": f"{SCRIPTS}{os.pathsep}{os.environ.get('PATH', '')}"}


def champion_version() -> str:
    return str(MlflowClient().get_model_version_by_alias("churn-sim", "champion").version)


def test_gate_promotes_better_models_keeps_permuted_ones_and_rolls_back(small_sim_dir):
    null = train_small_version(small_sim_dir, "permute_labels=true", "registry.gate.floor=0.0")
    assert null["promoted"]
    assert champion_version() == "1"

    real = train_small_version(small_sim_dir)
    assert real["promoted"], real["decision_line"]
    assert champion_version() == "2"

    permuted = train_small_version(small_sim_dir, "permute_labels=true")
    assert not permuted["promoted"], permuted["decision_line"]
    assert champion_version() == "2"
    client = MlflowClient()
    assert str(client.get_model_version_by_alias("churn-sim", "challenger").version) == "3"
    tags = client.get_model_version("churn-sim", "3").tags
    assert tags["gate.decision"] == "kept as challenger"
    assert permuted["gate_figures"]["difference"] < 0

    rolled = promote.run(
        compose_config("promote", [*small_sim_overrides(small_sim_dir), "action=rollback"])
    )
    assert rolled["champion"] == "1"
    assert champion_version() == "1"


@pytest.fixture(scope="module")
def champion_store(small_sim_dir, tmp_path_factory) -> Path:
    """A store holding one registered champion, trained once for the module."""
    root = tmp_path_factory.mktemp("champion")
    store = root / "mlruns" / "mlflow.db"
    store.parent.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
        patch.setenv("MLFLOW_REGISTRY_URI", f"sqlite:///{store}")
        patch.setenv("BEHAVIORLAB_ROOT", str(root))
        outcome = train_small_version(small_sim_dir)
    assert outcome["promoted"]
    return store


@pytest.fixture
def champion(champion_store, mlflow_store):
    """This test's store starts as a copy of the champion store (artifacts stay shared)."""
    shutil.copy(champion_store, mlflow_store.removeprefix("sqlite:///"))
    mlflow.set_tracking_uri(mlflow_store)
    mlflow.set_registry_uri(mlflow_store)


def score_config(data_dir, out: Path, *extra: str):
    overrides = [
        *small_sim_overrides(data_dir),
        f"output.path={out}",
        "chunk_size=700",
        "progress=false",
    ]
    return compose_config("score", overrides + list(extra))


def test_scores_match_in_process_predictions_and_repeat_exactly(small_sim_dir, champion, tmp_path):
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    database = tmp_path / "scores.duckdb"
    summary = score.run(score_config(small_sim_dir, first))
    duckdb_table = f"output.duckdb={{database:'{database}',table:churn_scores}}"
    score.run(score_config(small_sim_dir, second, duckdb_table))

    scores = pd.read_parquet(first)
    assert len(scores) == summary["rows"] > 700
    assert scores["customer_id"].is_unique
    expected_columns = {"customer_id", "probability", "tier", "action", "reason_1"}
    expected_columns |= {"reason_1_feature", "reason_3_contribution"}
    assert expected_columns | {"model_name", "model_version", "cutoff", "scored_at"} <= set(scores)
    pd.testing.assert_frame_equal(
        scores.drop(columns="scored_at"), pd.read_parquet(second).drop(columns="scored_at")
    )
    with duckdb.connect(str(database), read_only=True) as con:
        assert con.execute("select count(*) from churn_scores").fetchone()[0] == len(scores)
    scoring_runs = MlflowClient().search_runs(
        [MlflowClient().get_experiment_by_name("scoring").experiment_id]
    )
    assert len(scoring_runs) == 2
    assert {run.info.status for run in scoring_runs} == {"FINISHED"}
    assert scoring_runs[0].data.metrics["rows"] == summary["rows"]

    acting = scores["tier"].isin(["high", "medium"])
    assert scores.loc[acting, "reason_1"].notna().all()
    assert scores.loc[~acting, "reason_1"].isna().all()
    assert scores["tier"].value_counts()["high"] == round(0.05 * len(scores))
    assert scores.loc[acting, "reason_1"].str.contains(r"\(retained customers: ").all()
    assert (scores["reason_1_contribution"].dropna() > 0).all()

    model, spec = load_behavior_model("models:/churn-sim@champion")
    dataset = load_dataset(
        to_plain(compose_config("score", small_sim_overrides(small_sim_dir)).data)
    )
    snapshots = scoring_snapshots(
        dataset.events, dataset.customers, spec["task"], default_cutoff(dataset.events)
    )
    features = build_features(dataset.events, dataset.customers, snapshots, spec["features"])
    expected = pd.Series(
        model.predict_proba(features[spec["feature_names"]]), index=features["customer_id"]
    )
    got = scores.set_index("customer_id")["probability"]
    np.testing.assert_allclose(got.loc[expected.index].to_numpy(), expected.to_numpy())


def test_killed_scoring_leaves_no_output(small_sim_dir, champion, tmp_path):
    out = tmp_path / "scores.parquet"
    command = [
        str(SCRIPTS / "behaviorlab-score"),
        *small_sim_overrides(small_sim_dir),
        f"output.path={out}",
        "chunk_size=50",
        "progress=false",
    ]
    process = subprocess.Popen(
        command, env=script_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".scores.parquet.*.tmp")) and time.monotonic() < deadline:
        assert process.poll() is None, "scoring ended before it could be interrupted"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not out.exists()


def test_scoring_bad_input_exits_2_and_writes_nothing(small_sim_dir, champion, tmp_path):
    broken = tmp_path / "events.csv"
    broken.write_text("customer_id,timestamp,event\nc1,not-a-time,login\n")
    out = tmp_path / "scores.parquet"
    result = subprocess.run(
        [
            str(SCRIPTS / "behaviorlab-score"),
            f"paths.data_dir={small_sim_dir}",
            f"data.events.path={broken}",
            "data.events.format=csv",
            f"output.path={out}",
        ],
        env=script_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2, result.stderr
    assert "timestamp" in result.stderr
    assert not out.exists()


def assert_served_like(answer: str, expected: pd.DataFrame) -> None:
    """A strict-JSON answer holding the in-process predictions, nulls where they are empty."""
    served = strict_json(answer)["predictions"]
    assert [list(row) for row in served] == [list(expected.columns)] * len(expected)
    np.testing.assert_allclose([row["probability"] for row in served], expected["probability"])
    for column in expected.columns.drop("probability"):
        assert [row[column] for row in served] == expected[column].tolist(), column


@pytest.mark.server
def test_make_serve_answers_strict_json_like_in_process_prediction(champion, mlflow_store):
    model = mlflow.pyfunc.load_model("models:/churn-sim@champion")
    rows = model.input_example
    expected = model.predict(rows)
    assert expected["reason_1"].notna().any()
    assert expected["reason_1"].isna().any()
    port = free_port()
    without_venv = os.pathsep.join(
        entry for entry in os.environ.get("PATH", "").split(os.pathsep) if Path(entry) != SCRIPTS
    )
    make_serve = ["make", "-s", "-o", ".venv/.installed", "serve", f"BIN={SCRIPTS}"]
    server = subprocess.Popen(
        [*make_serve, f"PORT={port}", f"TRACKING_URI={mlflow_store}"],
        cwd=ROOT,
        env=os.environ | {"PATH": without_venv},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/invocations"
    try:
        wait_until_up(f"http://127.0.0.1:{port}/ping", server)
        split = '{"dataframe_split": ' + rows.to_json(orient="split", index=False) + "}"
        records = '{"dataframe_records": ' + rows.to_json(orient="records") + "}"
        answers = [post_json(url, body) for body in (split, records)]
        unseen = rows.head(1).assign(plan="platinum")
        unseen_status, unseen_answer = post_json(
            url, '{"dataframe_split": ' + unseen.to_json(orient="split", index=False) + "}"
        )
        missing = rows.head(1).drop(columns=rows.columns[0])
        missing_status, missing_answer = post_json(
            url, '{"dataframe_records": ' + missing.to_json(orient="records") + "}"
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    for body, (status, answer) in zip((split, records), answers, strict=True):
        strict_json(body)
        assert status == 200, answer
        assert_served_like(answer, expected)
    assert unseen_status == 400
    unseen_message = strict_json(unseen_answer)["message"]
    assert "column 'plan' has unseen values 'platinum' (known levels: " in unseen_message
    assert missing_status == 400
    message = strict_json(missing_answer)["message"]
    assert message.splitlines()[-1] == (
        f"Error: feature columns missing from the input: [{rows.columns[0]!r}]"
    )
    assert "schema" not in message
