"""behaviorlab-compare on two real training runs in a real MLflow store."""

import re
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from behaviorlab.apps import compare
from tests.helpers import compose_config, train_small_version

pytestmark = pytest.mark.slow


def train_unregistered(data_dir, *extra: str) -> dict:
    return train_small_version(data_dir, "registry.register=false", *extra)


def comparison_runs(client: MlflowClient) -> list:
    experiment = client.get_experiment_by_name("comparisons")
    return [] if experiment is None else client.search_runs([experiment.experiment_id])


def test_compare_two_trained_runs_on_their_shared_rows(small_sim_dir, capsys):
    boosted = train_unregistered(small_sim_dir)
    logistic = train_unregistered(small_sim_dir, "model=logistic")
    client = MlflowClient()
    names = [client.get_run(s["run_id"]).info.run_name for s in (boosted, logistic)]
    capsys.readouterr()

    result = compare.run(
        compose_config(
            "compare", [f"runs=[{boosted['run_id']},{logistic['run_id']}]", "n_boot=200"]
        )
    )

    page_path = Path(result["page"])
    assert page_path.name == "compare.html"
    assert page_path.parent.parent.name == "compare"
    assert not list(page_path.parent.glob("*.tmp"))
    page = page_path.read_text()
    for name in names:
        assert name in page
    assert page.count('src="data:image/png;base64,') == 3
    auc = result["differences"][names[1]]["roc_auc"]
    assert auc["low"] <= auc["point"] <= auc["high"]
    assert auc["low"] < auc["high"]
    interval = f"{auc['point']:+.4f} [{auc['low']:+.4f}, {auc['high']:+.4f}]"
    assert interval in page
    assert re.search(r"[\d,]+ gate holdout rows \(customers no model saw\)", page)

    logged = client.get_run(result["run_id"])
    assert logged.info.status == "FINISHED"
    assert logged.data.tags["kind"] == "compare"
    assert client.get_experiment(logged.info.experiment_id).name == "comparisons"
    assert "compare.html" in {a.path for a in client.list_artifacts(result["run_id"])}
    assert logged.data.metrics["diff_roc_auc.1"] == pytest.approx(auc["point"])

    printed = capsys.readouterr().out
    assert f"page: {page_path}" in printed
    assert names[0] in printed
    assert "ROC AUC" in printed

    experiment = client.get_experiment(client.get_run(boosted["run_id"]).info.experiment_id)
    by_experiment = compare.run(compose_config("compare", [f"from_experiment={experiment.name}"]))
    assert list(by_experiment["table"]["run"]) == names[::-1]  # newest first: the baseline

    # The comparison run holds no test rows: refused before another comparison run opens.
    with pytest.raises(SystemExit) as stopped:
        compare.run(compose_config("compare", [f"runs=[{boosted['run_id']},{result['run_id']}]"]))
    assert stopped.value.code == 2
    assert "has no holdout/holdout.parquet" in capsys.readouterr().err
    assert len(comparison_runs(client)) == 2


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["runs=[0123456789abcdef0123456789abcdef,fedcba9876543210fedcba9876543210]"], "unknown"),
        (["runs=[only_one]"], "at least two run ids"),
        (["from_experiment=no-such-experiment"], "names no MLflow experiment"),
    ],
)
def test_bad_input_exits_2_with_one_error_line_and_opens_no_run(overrides, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        compare.run(compose_config("compare", overrides))
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: ")
    assert message in err[0]
    assert comparison_runs(MlflowClient()) == []
