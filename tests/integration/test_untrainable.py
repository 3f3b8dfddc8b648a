"""A table no model can learn from is refused before a run opens or a cache entry is written."""

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from behaviorlab.apps import train
from tests.helpers import compose_config

HEADER = "customer_id date number_of_cds dollar_value\n"


def write_purchases(path: Path, rows: list[tuple[str, str]]) -> None:
    path.write_text(HEADER + "".join(f"{who} {day} 1 10.0\n" for who, day in rows))


def stored_runs() -> list:
    client = MlflowClient()
    experiments = [exp.experiment_id for exp in client.search_experiments()]
    return [run for exp in experiments for run in client.search_runs([exp])]


def train_on(path: Path, tmp_path: Path, *extra: str):
    overrides = [
        "data=cdnow",
        f"data.path={path}",
        "task=repurchase",
        "task.snapshots.start=null",
        "task.snapshots.end=null",
        "task.snapshots.every_days=null",
        f"paths.root_dir={tmp_path}",
        "tuning=smoke",
        *extra,
    ]
    return train.run(compose_config("train", overrides))


@pytest.mark.parametrize(
    ("rows", "cutoffs", "reason"),
    [
        # every customer buys again in the horizon: label 1 only
        (
            [(c, d) for c in "123" for d in ("19970101", "19970301", "19970601")],
            "[1997-02-01]",
            "both classes",
        ),
        # one customer, both classes over two cutoffs
        (
            [("1", "19970101"), ("1", "19970301"), ("1", "19970901")],
            "[1997-02-01,1997-05-01]",
            "one customer",
        ),
    ],
    ids=["single_class", "single_customer"],
)
def test_untrainable_table_leaves_no_run_and_no_cache(tmp_path, capsys, rows, cutoffs, reason):
    data = tmp_path / "purchases.txt"
    write_purchases(data, rows)
    with pytest.raises(SystemExit) as stopped:
        train_on(data, tmp_path, f"task.snapshots.cutoffs={cutoffs}")
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error:")
    assert reason in err[0]
    assert not stored_runs()
    assert not list((tmp_path / ".cache").rglob("*.parquet"))


def test_impossible_split_is_refused_before_a_run_opens(tmp_path, capsys):
    data = tmp_path / "purchases.txt"
    write_purchases(
        data,
        [(c, d) for c in "1234" for d in ("19970101", "19970301")]
        + [(c, "19970601") for c in "56"]
        + [(c, "19970101") for c in "56"],
    )
    with pytest.raises(SystemExit) as stopped:
        train_on(data, tmp_path, "task.snapshots.cutoffs=[1997-02-01]")
    assert stopped.value.code == 2
    assert "out-of-time split" in capsys.readouterr().err
    assert not stored_runs()
