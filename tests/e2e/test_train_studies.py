"""Optuna studies are keyed to what they tune: a rerun resumes and says so, anything else tunes."""

import optuna
import pytest
from mlflow.tracking import MlflowClient

from behaviorlab.apps import train
from tests.conftest import SMALL_SIM
from tests.helpers import compose_config

pytestmark = pytest.mark.slow
N_TRIALS = 2


@pytest.fixture(scope="module")
def other_sim_dir(tmp_path_factory):
    """A second small simulation, drawn with another seed (same data name, other data)."""
    from behaviorlab.data.simulator import write_simulation

    data_dir = tmp_path_factory.mktemp("other-data")
    write_simulation(out_dir=data_dir / "sim", **{**SMALL_SIM, "seed": SMALL_SIM["seed"] + 1})
    return data_dir


def train_once(data_dir, *extra: str) -> dict:
    """One quick training; the parent run's tags, its number of child runs, the study storage."""
    cfg = compose_config(
        "train",
        [
            f"paths.data_dir={data_dir}",
            f"data.simulate.n_customers={SMALL_SIM['n_customers']}",
            f"data.simulate.seed={SMALL_SIM['seed']}",
            "tuning=smoke",
            f"tuning.n_trials={N_TRIALS}",
            "explain.max_rows=100",
            "registry.register=false",
            *extra,
        ],
    )
    summary = train.run(cfg)
    client = MlflowClient()
    parent = client.get_run(summary["run_id"])
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    return {
        "tags": parent.data.tags,
        "metrics": parent.data.metrics,
        "params": parent.data.params,
        "children": len(children),
        "storage": cfg.optuna_storage,
    }


def assert_tuned_itself(run: dict) -> None:
    assert run["children"] == N_TRIALS
    assert run["tags"]["tuning.trials_run"] == str(N_TRIALS)
    assert run["tags"]["tuning.trials_reused"] == "0"


def test_different_data_runs_its_own_trials(small_sim_dir, other_sim_dir, capsys):
    first = train_once(small_sim_dir)
    other = train_once(other_sim_dir)
    assert [first["children"], other["children"]] == [N_TRIALS, N_TRIALS]
    assert_tuned_itself(first)
    assert_tuned_itself(other)
    assert other["tags"]["tuning.study"] != first["tags"]["tuning.study"]
    assert other["tags"]["tuning.study"].startswith("churn-sim-lightgbm-")
    out = capsys.readouterr().out
    assert f"study {other['tags']['tuning.study']}: ran {N_TRIALS} trials, reused 0" in out
    assert "\nnot registered (registry.register=false)\n" in out


def test_permuted_labels_after_a_real_run_run_their_own_trials(small_sim_dir):
    real = train_once(small_sim_dir)
    permuted = train_once(small_sim_dir, "permute_labels=true")
    assert [real["children"], permuted["children"]] == [N_TRIALS, N_TRIALS]
    assert_tuned_itself(real)
    assert_tuned_itself(permuted)
    assert permuted["tags"]["tuning.study"] != real["tags"]["tuning.study"]


def test_identical_rerun_resumes_and_says_so_and_fresh_starts_anew(small_sim_dir, capsys):
    first = train_once(small_sim_dir)
    capsys.readouterr()
    again = train_once(small_sim_dir)
    out = capsys.readouterr().out
    fresh = train_once(small_sim_dir, "tuning.fresh=true")
    assert_tuned_itself(first)
    name = first["tags"]["tuning.study"]
    assert again["tags"]["tuning.study"] == name
    assert again["tags"]["tuning.trials_run"] == "0"
    assert again["tags"]["tuning.trials_reused"] == str(N_TRIALS)
    assert again["children"] == 0
    assert f"resumed study {name}: reused {N_TRIALS} trials, ran 0" in out

    assert_tuned_itself(fresh)
    assert fresh["tags"]["tuning.study"].startswith(f"{name}-fresh-")
    stored = {s.study_name: s.n_trials for s in optuna.get_all_study_summaries(first["storage"])}
    assert stored == {name: N_TRIALS, fresh["tags"]["tuning.study"]: N_TRIALS}


def test_tuning_starts_from_the_defaults_and_logs_its_gain_over_them(small_sim_dir):
    folded = train_once(small_sim_dir, "tuning.inner_folds=2")
    single = train_once(small_sim_dir)
    assert folded["tags"]["tuning.study"] != single["tags"]["tuning.study"]
    study = optuna.load_study(study_name=folded["tags"]["tuning.study"], storage=folded["storage"])
    defaults, regularised = study.trials
    assert (defaults.user_attrs["first_trial"], regularised.user_attrs["first_trial"]) == (
        "defaults",
        "regularised",
    )
    assert (defaults.params["learning_rate"], defaults.params["feature_fraction"]) == (0.1, 1.0)
    assert regularised.params["lambda_l2"] == 5.0
    folds = defaults.user_attrs["fold_val_roc_auc"]
    assert len(folds) == 2
    assert defaults.value == pytest.approx(sum(folds) / 2)
    gain = max(defaults.value, regularised.value) - defaults.value
    assert folded["metrics"]["val_gain_over_defaults"] == pytest.approx(gain)
    assert folded["metrics"]["val_defaults_roc_auc"] == pytest.approx(defaults.value)
    kept = gain <= 0
    assert folded["tags"]["tuning.kept_defaults"] == str(kept).lower()
    chosen = defaults if kept else regularised
    assert folded["params"]["best.lambda_l2"] == str(chosen.params["lambda_l2"])
    description = folded["tags"]["mlflow.note.content"]
    expected = (
        "tuning did not beat LightGBM's defaults on validation; the defaults were kept"
        if kept
        else "tuning beat LightGBM's defaults on validation by"
    )
    assert expected in description
