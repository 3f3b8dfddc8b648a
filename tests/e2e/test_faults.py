"""Killed, stopped and mistyped jobs: no MLflow run left RUNNING, no partial files, clean exits.

The apps run as subprocesses of the virtualenv's console scripts, killed mid-work the way a
user (Ctrl-C), ``timeout``/a scheduler (SIGTERM) or the kernel (SIGKILL) would.
"""

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import optuna
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from behaviorlab.apps import analyze, promote, score, simulate, train
from behaviorlab.apps.common import EXIT_USER_ERROR
from behaviorlab.processes import host_name
from behaviorlab.scoring.batch import remove_abandoned_temporaries
from behaviorlab.tracking import runs
from tests.e2e.test_registry_and_scoring import SCRIPTS, script_env
from tests.helpers import compose_config, small_sim_overrides

pytestmark = pytest.mark.slow
N_TRIALS = 8
EXPERIMENT = "churn-sim"
TEMPORARIES = ".scores.parquet.*.tmp"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    """One training-table cache for the module, so only the first job builds the table."""
    return tmp_path_factory.mktemp("cache")


def train_command(data_dir: Path, cache: Path, *extra: str) -> list[str]:
    return [
        str(SCRIPTS / "behaviorlab-train"),
        *small_sim_overrides(data_dir),
        f"paths.cache_dir={cache}",
        "tuning=smoke",
        f"tuning.n_trials={N_TRIALS}",
        "explain.max_rows=100",
        *extra,
    ]


def start(command: list[str], log: Path) -> subprocess.Popen:
    """Start an app with its output in a file (a full pipe would block it)."""
    with open(log, "w") as handle:
        return subprocess.Popen(command, env=script_env(), stdout=handle, stderr=handle)


def wait_for_tuning(job: subprocess.Popen, log: Path, timeout: float = 300) -> str:
    """Wait until the job's parent run has logged a finished trial; return its run id."""
    client = MlflowClient()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert job.poll() is None, f"job ended before being stopped:\n{log.read_text()[-3000:]}"
        experiment = client.get_experiment_by_name(EXPERIMENT)
        if experiment is not None:
            trials = client.search_runs([experiment.experiment_id], "tags.`optuna.trial` = '0'")
            if trials:
                return trials[0].data.tags["mlflow.parentRunId"]
        time.sleep(0.1)
    raise AssertionError(f"no trial finished within {timeout} s:\n{log.read_text()[-3000:]}")


def the_study(root: Path) -> optuna.Study:
    storage = f"sqlite:///{root / 'mlruns' / 'optuna.db'}"
    (summary,) = optuna.get_all_study_summaries(storage)
    return optuna.load_study(study_name=summary.study_name, storage=storage)


def parent_runs() -> list:
    client = MlflowClient()
    experiment_id = client.get_experiment_by_name(EXPERIMENT).experiment_id
    runs = client.search_runs([experiment_id])
    return [run for run in runs if "mlflow.parentRunId" not in run.data.tags]


def trial_numbers(run_id: str) -> list[int]:
    client = MlflowClient()
    experiment_id = client.get_run(run_id).info.experiment_id
    children = client.search_runs([experiment_id], f"tags.mlflow.parentRunId = '{run_id}'")
    return sorted(int(child.data.tags["optuna.trial"]) for child in children)


def test_rerun_after_kill_9_resumes_the_study_and_ends_the_dead_run(
    small_sim_dir, cache_dir, tmp_path
):
    command = train_command(small_sim_dir, cache_dir, "registry.register=false")
    job = start(command, tmp_path / "killed.log")
    dead_id = wait_for_tuning(job, tmp_path / "killed.log")
    job.send_signal(signal.SIGKILL)
    job.wait()
    client = MlflowClient()
    assert client.get_run(dead_id).info.status == "RUNNING"

    rerun = subprocess.run(command, env=script_env(), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-3000:]

    dead = client.get_run(dead_id)
    assert dead.info.status == "KILLED"
    assert "ended without ending the run" in dead.data.tags["end_reason"]
    (live,) = [run for run in parent_runs() if run.info.run_id != dead_id]
    assert live.info.status == "FINISHED"
    assert live.data.tags["pid"] != dead.data.tags["pid"]
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    trials = the_study(tmp_path).get_trials(states=finished)
    assert len(trials) == N_TRIALS
    resumed = trial_numbers(live.info.run_id)
    reused = [trial.number for trial in trials if trial.number not in resumed]
    assert reused, "the rerun started the study over"
    assert len(resumed) == N_TRIALS - len(reused)
    assert max(reused) < min(resumed)


def test_sigterm_mid_tuning_ends_the_run_killed_and_exits_promptly(
    small_sim_dir, cache_dir, tmp_path
):
    command = train_command(small_sim_dir, cache_dir, "registry.register=false")
    job = start(command, tmp_path / "stopped.log")
    run_id = wait_for_tuning(job, tmp_path / "stopped.log")
    stopped_at = time.monotonic()
    job.send_signal(signal.SIGTERM)
    returncode = job.wait(timeout=60)
    took = time.monotonic() - stopped_at

    assert returncode == 128 + signal.SIGTERM, (tmp_path / "stopped.log").read_text()[-3000:]
    assert took < 10, f"exit took {took:.1f} s after SIGTERM"
    run = MlflowClient().get_run(run_id)
    assert run.info.status == "KILLED"
    assert run.data.tags["end_reason"] == "stopped by SIGTERM"
    assert {"host", "pid", "heartbeat"} <= set(run.data.tags)
    running = the_study(tmp_path).get_trials(states=(optuna.trial.TrialState.RUNNING,))
    assert not running, "the interrupted trial is still RUNNING in the study"


def test_kill_9_mid_scoring_keeps_the_old_file_and_the_rerun_cleans_up(
    small_sim_dir, cache_dir, tmp_path
):
    training = [*small_sim_overrides(small_sim_dir), f"paths.cache_dir={cache_dir}", "tuning=smoke"]
    training += ["tuning.n_trials=1", "explain.max_rows=100"]
    trained = train.run(
        compose_config("train", [*training, "registry.promote_after_training=false"])
    )
    out = tmp_path / "scores.parquet"
    model = f"registered_model={trained['model_name']}/{trained['model_version']}"
    scoring = [*small_sim_overrides(small_sim_dir), model, f"output.path={out}"]
    scoring.append("progress=false")
    score.run(compose_config("score", scoring))
    before = out.read_bytes()

    job = start(
        [str(SCRIPTS / "behaviorlab-score"), *scoring, "chunk_size=50"], tmp_path / "score.log"
    )
    deadline = time.monotonic() + 180
    while not list(tmp_path.glob(TEMPORARIES)) and time.monotonic() < deadline:
        assert job.poll() is None, (tmp_path / "score.log").read_text()[-3000:]
        time.sleep(0.05)
    job.send_signal(signal.SIGKILL)
    job.wait()
    assert out.read_bytes() == before
    assert list(tmp_path.glob(TEMPORARIES)), "the killed job left no temporary file to clean"

    summary = score.run(compose_config("score", scoring))
    assert not list(tmp_path.glob(TEMPORARIES))
    scores = pd.read_parquet(out)
    assert len(scores) == summary["rows"] > 0
    assert scores["customer_id"].is_unique


def test_two_trainings_at_once_on_an_empty_store_register_two_versions_one_champion(
    small_sim_dir, cache_dir, tmp_path
):
    jobs = [
        (
            log := tmp_path / f"train-{seed}.log",
            start(
                train_command(
                    small_sim_dir,
                    cache_dir,
                    "tuning.n_trials=2",
                    "registry.gate.n_boot=200",
                    f"seed={seed}",
                ),
                log,
            ),
        )
        for seed in (1, 2)
    ]
    for log, job in jobs:
        assert job.wait(timeout=600) == 0, log.read_text()[-3000:]

    client = MlflowClient()
    (registered,) = client.search_registered_models()
    versions = client.search_model_versions(f"name = '{registered.name}'")
    assert sorted(int(version.version) for version in versions) == [1, 2]
    champion = client.get_model_version_by_alias(registered.name, "champion")
    assert champion.version in {version.version for version in versions}
    assert champion.tags["gate.decision"] == "promoted to champion"
    assert all("gate.decision" in version.tags for version in versions)
    parents = parent_runs()
    assert len(parents) == 2
    assert {run.info.status for run in parents} == {"FINISHED"}


@pytest.mark.parametrize(
    ("app", "override"),
    [
        (train.main, "nope_key=1"),
        (train.main, "seed=abc"),
        (score.main, "nope_key=1"),
        (promote.main, "nope_key=1"),
        (analyze.main, "nope_key=1"),
        (simulate.main, "nope_key=1"),
    ],
)
def test_bad_override_exits_2_with_one_error_line(app, override, monkeypatch, capsys):
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    monkeypatch.setattr(sys, "argv", ["behaviorlab-app", override])
    with pytest.raises(SystemExit) as exit_info:
        app()
    assert exit_info.value.code == EXIT_USER_ERROR
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: ")
    assert ("nope_key" if "nope_key" in override else "abc") in line


def test_bad_override_from_the_command_line_exits_2_without_traceback(tmp_path):
    result = subprocess.run(
        [str(SCRIPTS / "behaviorlab-simulate"), f"out_dir={tmp_path / 'sim'}", "n_customer=10"],
        env=script_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == EXIT_USER_ERROR
    assert result.stderr.strip().splitlines() == [
        "error: Could not override 'n_customer'. To append to your config use +n_customer=10"
        " (Key 'n_customer' not in 'SimulateConfig')"
    ]
    assert not (tmp_path / "sim").exists()


def test_opening_a_run_ends_only_the_runs_whose_job_is_gone():
    client = MlflowClient()
    experiment_id = runs.ensure_experiment("faults")
    long_ago = datetime.now(UTC) - timedelta(minutes=45)
    here = runs.describe_process()

    def running(tags: dict) -> str:
        return client.create_run(experiment_id, tags=tags).info.run_id

    silent = running({"host": "elsewhere", "pid": "1", "heartbeat": long_ago.isoformat()})
    beating = running({"host": "elsewhere", "pid": "1", "heartbeat": runs.utc_now()})
    reused_pid = running(here | {"pid_started": "1.0"})
    alive = running(here)

    with runs.open_run({"experiment_name": "faults", "stale_after_minutes": 30}, "next"):
        pass
    status = {run_id: client.get_run(run_id).info.status for run_id in (silent, beating)}
    status |= {run_id: client.get_run(run_id).info.status for run_id in (reused_pid, alive)}
    assert status == {silent: "KILLED", beating: "RUNNING", reused_pid: "KILLED", alive: "RUNNING"}
    assert (
        "no heartbeat from elsewhere for 45 minutes"
        in client.get_run(silent).data.tags["end_reason"]
    )
    for run_id in (beating, alive):
        client.set_terminated(run_id)


def test_scoring_removes_only_the_temporary_files_whose_writer_is_gone(tmp_path):
    out = tmp_path / "scores.parquet"
    finished = subprocess.Popen(["true"])
    finished.wait()
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        name = f".scores.parquet.{host_name()}"
        dead = tmp_path / f"{name}.{finished.pid}.tmp"
        reused = tmp_path / f"{name}.1.tmp"
        live = tmp_path / f"{name}.{sleeper.pid}.tmp"
        other_host = tmp_path / f".scores.parquet.elsewhere.{finished.pid}.tmp"
        for path in (dead, reused, live, other_host):
            path.write_bytes(b"partial")
        os.utime(reused, (0, 0))
        removed = remove_abandoned_temporaries(out)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert sorted(removed) == sorted([dead, reused])
    assert live.exists()
    assert other_host.exists()
