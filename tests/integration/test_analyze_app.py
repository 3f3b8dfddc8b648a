"""behaviorlab-analyze end to end on a small simulation: files, report, MLflow run."""

import base64

import ibis
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from pandas.testing import assert_frame_equal

from behaviorlab.analysis.pipeline import ANALYSES, Inputs
from behaviorlab.apps.analyze import run
from behaviorlab.apps.common import compose_app, to_plain
from behaviorlab.data.simulator import write_simulation
from behaviorlab.data.sources import load_dataset

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


def test_clusters_fit_a_seeded_sample_and_say_so(small_sim):
    overrides = [*small_sim, *FAST_CLUSTERS, "analysis=clusters", "analysis.clusters.sample=120"]
    result = run(compose_config(overrides))
    out = pd.io.common.Path(result["output_dir"])
    assignments = pd.read_parquet(out / "clusters/cluster_assignments.parquet")
    assert result["clusters_customers"] == len(assignments) == 120
    assert result["clusters_population"] > 120
    assert pd.read_parquet(out / "clusters/cluster_profiles.parquet")["customers"].sum() == 120
    assert "random sample" in (out / "clusters/brief.md").read_text()
    again = run(compose_config(overrides))
    repeated = pd.read_parquet(
        pd.io.common.Path(again["output_dir"]) / "clusters/cluster_assignments.parquet"
    )
    assert_frame_equal(repeated, assignments)


@pytest.mark.parametrize("name", ["rfm", "cohorts", "funnel"])
def test_analyses_on_the_lazy_staged_log_equal_those_on_a_frame(small_sim, tmp_path, name):
    cfg = compose_config(small_sim)
    dataset = load_dataset(to_plain(cfg.data), staging_root=tmp_path)
    assert isinstance(dataset.events, ibis.Table)
    frame = pd.read_parquet(dataset.events_path)
    assert len(frame) == dataset.event_rows
    settings = to_plain(cfg.analysis)[name]
    lazy, eager = (
        ANALYSES[name](Inputs(events, dataset.customers, dataset.data_end), settings)
        for events in (dataset.events, frame)
    )

    assert list(lazy.tables) == list(eager.tables)
    assert list(lazy.details) == list(eager.details)
    for table in (*lazy.tables, *lazy.details):
        got = lazy.tables.get(table, lazy.details.get(table))
        want = eager.tables.get(table, eager.details.get(table))
        assert len(got) > 0
        assert_frame_equal(got, want)
    assert lazy.metrics == pytest.approx(eager.metrics)
    assert lazy.text == eager.text
