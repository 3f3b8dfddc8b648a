"""Shared fixtures: every test gets its own MLflow store and must close its runs."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def mlflow_store(tmp_path, monkeypatch):
    """Point MLflow at a temporary SQLite store; fail the test if it leaves a run open."""
    store = tmp_path / "mlruns"
    store.mkdir()
    uri = f"sqlite:///{store / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)
    monkeypatch.setenv("BEHAVIORLAB_ROOT", str(tmp_path))
    if "mlflow" in sys.modules:
        sys.modules["mlflow"].set_tracking_uri(uri)
        sys.modules["mlflow"].set_registry_uri(uri)
    yield uri
    if not (store / "mlflow.db").exists():
        return
    import mlflow
    from mlflow.tracking import MlflowClient

    still_active = mlflow.active_run()
    while mlflow.active_run() is not None:
        mlflow.end_run()
    client = MlflowClient(tracking_uri=uri)
    running = [
        run.info.run_id
        for exp in client.search_experiments()
        for run in client.search_runs([exp.experiment_id], "attributes.status = 'RUNNING'")
    ]
    assert still_active is None, f"test left MLflow run {still_active.info.run_id} active"
    assert not running, f"test left MLflow runs RUNNING: {running}"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data sets beside the project; skip when they are not there."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data sets not found at {SHARED_DATA}")
    return SHARED_DATA


SMALL_SIM = {"n_customers": 3000, "seed": 11, "start": "2024-01-01", "end": "2025-06-30"}


@pytest.fixture(scope="session")
def small_sim_dir(tmp_path_factory) -> Path:
    """A small simulated data set written once per test session (data_dir/sim/*.parquet)."""
    from behaviorlab.data.simulator import write_simulation

    data_dir = tmp_path_factory.mktemp("data")
    write_simulation(out_dir=data_dir / "sim", **SMALL_SIM)
    return data_dir
