"""behaviorlab-analyze end to end on a small simulation: files, report, MLflow run."""

import base64

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from behaviorlab.apps.analyze import run
from behaviorlab.apps.common import compose_app
from behaviorlab.data.simulator import write_simulation

FAST_CLUSTERS = ["analysis.clusters.k_range=[2,3,4]", "analysis.clusters.stability_seeds=2"]


@pytest.fixture(scope="module")
def small_sim(tmp_path_factory):
    """300 simulated customers, generated once for the module."""
    folder = tmp_path_factory.mktemp("sim")
    write_simulation(folder, n_customers=300, seed=7, start="2024-01-01", end="2025-06-30")
    return [
        "data=sim",
        f"data.events.path={folder / 'events.parquet'}",
        f"data.customers.path={folder / 'customers.parquet'}",
    ]


def compose_config(overrides):
    return compose_app("analyze", overrides)


def test_all_analyses_write_tables_charts_report_and_one_run(small_sim, mlflow_store, tmp_path):
    result = run(compose_config([*small_sim, *FAST_CLUSTERS]))

    folder = tmp_path / "outputs" / "analyses" / "sim"
    assert result["output_dir"].startswith(str(folder))
    out = pd.io.common.Path(result["output_dir"])
    for name in (
        "rfm/rfm_segments",
        "cohorts/cohort_rates",
        "funnel/funnel",
        "clusters/cluster_profiles",
    ):
        parquet = pd.read_parquet(out / f"{name}.parquet")
        csv = pd.read_csv(out / f"{name}.csv")
        assert len(parquet) == len(csv) > 0
    pngs = sorted(path.name for path in out.rglob("*.png"))
    assert {"rfm_grid.png", "funnel.png", "cohort_heatmap.png", "cluster_profiles.png"} <= set(pngs)
    report = (out / "report.html").read_text()
    assert report.count("data:image/png;base64,") == len(pngs)
    first = report.split("data:image/png;base64,")[1].split('"')[0]
    assert base64.b64decode(first).startswith(b"\x89PNG")
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging left

    segments = pd.read_parquet(out / "rfm/rfm_segments.parquet")
    assert segments["share"].sum() == pytest.approx(1.0)
    retention = pd.read_parquet(out / "cohorts/cohort_retention.parquet")
    assert retention.drop_duplicates("cohort")["cohort_size"].sum() == 300
    assert retention["rate"].between(0, 1).all()
    assert 0 <= result["funnel_conversion"] <= 1
    assert -1 <= result["clusters_truth_ari"] <= 1

    client = MlflowClient(tracking_uri=mlflow_store)
    experiment = client.get_experiment_by_name("analyses-sim")
    (logged,) = client.search_runs([experiment.experiment_id])
    assert logged.info.status == "FINISHED"
    assert logged.data.metrics["rfm_customers"] == result["rfm_customers"]
    assert "clusters_truth_ari" in logged.data.metrics
    artifacts = {item.path for item in client.list_artifacts(logged.info.run_id)}
    assert {"report.html", "rfm", "cohorts", "funnel", "clusters"} <= artifacts


def test_one_analysis_and_a_user_error_exits_2(small_sim, capsys):
    result = run(compose_config([*small_sim, "analysis=rfm"]))
    out = pd.io.common.Path(result["output_dir"])
    assert sorted(path.name for path in out.iterdir()) == ["report.html", "rfm"]

    with pytest.raises(SystemExit) as stop:
        run(compose_config([*small_sim, "analysis=funnel", "analysis.funnel.steps=[login]"]))
    assert stop.value.code == 2
    assert "at least two steps" in capsys.readouterr().err
