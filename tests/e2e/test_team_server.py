"""Team mode end to end: PostgreSQL and MLflow with basic auth started from a tmp folder,
users in three roles, trainings through the server and Optuna studies shared on PostgreSQL,
and a training that loses the server mid-job."""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mlflow
import optuna
import pytest
import requests

from behaviorlab.team.server import Stack, find_pg_bin, pid_alive, start, stop
from behaviorlab.tracking import runs
from tests.helpers import free_port, small_sim_overrides

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.team]

MODEL = "churn-sim"
BUDGET = 4  # trials shared by the two trainings
PASSWORDS = {"alice": "alice-secret-123", "bob": "bob-secret-1234", "dora": "dora-secret-123"}
ROLES = {"alice": "data-scientist", "bob": "reviewer", "dora": "deploy"}


@pytest.fixture(scope="module")
def team():
    """The stack on free ports in a folder the cluster's unprivileged owner can reach, in
    memory where the host has it (the cluster's writes, checkpoints and removal are
    seconds of disk I/O otherwise)."""
    if find_pg_bin() is None:
        pytest.skip("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin")
    parent = "/dev/shm" if os.access("/dev/shm", os.W_OK) else "/tmp"
    folder = Path(tempfile.mkdtemp(prefix="behaviorlab-team-", dir=parent))
    folder.chmod(0o711)
    stack = Stack(folder / "team", port=free_port(), pg_port=free_port(), workers=1)
    try:
        start(stack)
        admin = {"admin": (stack.folder / "admin_password").read_text().strip()}
        with identity(stack, "admin", admin["admin"]):
            from behaviorlab.team.users import grant_role

            for user, role in ROLES.items():
                grant_role(stack.tracking_uri, user, role, [MODEL], [MODEL], PASSWORDS[user])
        yield stack
    finally:
        stop(stack)
        shutil.rmtree(folder, ignore_errors=True)


def server_env(stack: Stack, user: str) -> dict[str, str]:
    """What `source .team/env` and a user's credentials put in the environment."""
    env_file = (stack.folder / "env").read_text().split()
    exported = dict(line.split("=", 1) for line in env_file if "=" in line)
    return exported | {
        "MLFLOW_REGISTRY_URI": stack.tracking_uri,
        "MLFLOW_TRACKING_USERNAME": user,
        "MLFLOW_TRACKING_PASSWORD": PASSWORDS.get(user, ""),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    }


@contextlib.contextmanager
def identity(stack: Stack, user: str, password: str | None = None):
    """Act in this process as ``user`` against the stack, restoring the environment after."""
    env = server_env(stack, user) | {"MLFLOW_TRACKING_PASSWORD": password or PASSWORDS[user]}
    saved = {key: os.environ.get(key) for key in env}
    saved_uris = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        mlflow.set_tracking_uri(saved_uris[0])
        mlflow.set_registry_uri(saved_uris[1])


def team_overrides(data_dir, *extra: str) -> list[str]:
    """A quick training on the small simulation, through the server, its study on PostgreSQL."""
    return [
        *small_sim_overrides(data_dir),
        "tracking=server",
        "tuning=smoke",
        f"tuning.n_trials={BUDGET}",
        "explain.max_rows=100",
        "explain.n_dependence=1",
        "evaluation.n_boot=200",
        "registry.gate.n_boot=200",
        f"paths.cache_dir={Path(data_dir).parent / 'cache'}",
        *extra,
    ]


def api(stack: Stack, user: str | None, method: str, path: str, **kwargs) -> requests.Response:
    """One REST call as ``user`` (None: no credentials)."""
    auth = (user, PASSWORDS[user]) if user else None
    return requests.request(
        method, f"{stack.tracking_uri}/api/2.0/mlflow/{path}", auth=auth, timeout=60, **kwargs
    )


def as_dict(entries: list[dict]) -> dict[str, str]:
    return {entry["key"]: entry["value"] for entry in entries}


def aliases_of(stack: Stack, name: str) -> dict[str, str]:
    found = api(stack, "bob", "GET", "registered-models/get", params={"name": name}).json()
    return {a["alias"]: a["version"] for a in found["registered_model"].get("aliases", [])}


def versions_of(stack: Stack) -> list[dict]:
    found = api(stack, "bob", "GET", "model-versions/search", params={"filter": f"name='{MODEL}'"})
    return found.json()["model_versions"]


@pytest.fixture(scope="module")
def trainings(team, small_sim_dir, tmp_path_factory):
    """Two behaviorlab-train processes of a data scientist, started together on one study;
    their exit statuses and stderr."""
    env = {**os.environ, **server_env(team, "alice")}
    command = [str(Path(sys.executable).with_name("behaviorlab-train"))]
    command += team_overrides(small_sim_dir)
    logs = tmp_path_factory.mktemp("trainings")
    jobs = []
    for number in range(2):
        with open(logs / f"{number}.err", "w") as err, open(logs / f"{number}.out", "w") as out:
            jobs.append(subprocess.Popen(command, env=env, stdout=out, stderr=err))
    return [(job.wait(timeout=600), (logs / f"{n}.err").read_text()) for n, job in enumerate(jobs)]


def test_two_trainings_share_one_study_and_stop_at_the_budget(team, trainings):
    for returncode, err in trainings:
        assert returncode == 0, err[-3000:]
    versions = versions_of(team)
    assert sorted(v["version"] for v in versions) == ["1", "2"]
    runs = [
        api(team, "bob", "GET", "runs/get", params={"run_id": v["run_id"]}).json()["run"]
        for v in versions
    ]
    tags = [as_dict(run["data"]["tags"]) for run in runs]
    assert tags[0]["tuning.study"] == tags[1]["tuning.study"]
    os.environ["PGPASSWORD"] = server_env(team, "alice")["PGPASSWORD"]
    study = optuna.load_study(study_name=tags[0]["tuning.study"], storage=team.optuna_url)
    finished = study.get_trials(
        deepcopy=False, states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    )
    # Exactly the budget between them, each finished trial run by one of the two processes,
    # the defaults and the regularised configuration queued once, nothing left behind.
    assert len(finished) == BUDGET == len(study.trials)
    assert sum(int(t["tuning.trials_run"]) for t in tags) == BUDGET
    first = sorted(trial.user_attrs.get("first_trial", "") for trial in study.trials)
    assert first == ["", "", "defaults", "regularised"]
    assert {trial.user_attrs["owner"] for trial in finished} <= {
        f"{t['host']}:{t['pid']}" for t in tags
    }

    # One consistent registry: each version decided, and a data scientist moved no champion.
    for version in versions:
        version_tags = as_dict(version["tags"])
        assert version_tags["gate.decision"] == "kept as challenger"
        assert (
            "alice holds EDIT on churn-sim; moving champion takes MANAGE"
            in (version_tags["gate.reason"])
        )
    aliases = aliases_of(team, MODEL)
    assert set(aliases) == {"challenger"}
    assert aliases["challenger"] in {"1", "2"}


def test_a_reviewer_sees_the_runs_trials_and_plots(team, trainings):
    found = api(team, "bob", "GET", "model-versions/get", params={"name": MODEL, "version": "1"})
    run_id = found.json()["model_version"]["run_id"]
    run = api(team, "bob", "GET", "runs/get", params={"run_id": run_id}).json()["run"]
    assert run["info"]["status"] == "FINISHED"
    assert run["info"]["user_id"] == "alice"
    searched = api(
        team, "bob", "POST", "runs/search", json={"experiment_ids": [run["info"]["experiment_id"]]}
    ).json()["runs"]
    tags = [as_dict(found["data"]["tags"]) for found in searched]
    parents = [t.get("mlflow.parentRunId") for t in tags]
    assert set(parents) == {None} | {v["run_id"] for v in versions_of(team)}
    trials_run = sum(int(t["tuning.trials_run"]) for t in tags if "tuning.trials_run" in t)
    assert len([parent for parent in parents if parent]) == trials_run >= BUDGET
    listed = api(team, "bob", "GET", "artifacts/list", params={"run_id": run_id, "path": "plots"})
    plots = {entry["path"] for entry in listed.json()["files"]}
    assert {"plots/roc.png", "plots/calibration.png", "plots/shap_beeswarm.png"} <= plots
    roc = requests.get(
        f"{team.tracking_uri}/get-artifact",
        params={"path": "plots/roc.png", "run_uuid": run_id},
        auth=("bob", PASSWORDS["bob"]),
        timeout=60,
    )
    assert roc.status_code == 200
    assert roc.content.startswith(b"\x89PNG")


def test_server_refuses_anonymous_callers_and_a_reviewers_writes(team, trainings):
    from behaviorlab.tracking import models

    assert (
        api(team, None, "GET", "experiments/search", params={"max_results": 1}).status_code == 401
    )
    experiment = api(
        team, "bob", "GET", "experiments/get-by-name", params={"experiment_name": MODEL}
    )
    experiment_id = experiment.json()["experiment"]["experiment_id"]
    created = api(team, "bob", "POST", "runs/create", json={"experiment_id": experiment_id})
    assert created.status_code == 403
    alias = {"name": MODEL, "alias": "champion", "version": "1"}
    assert api(team, "bob", "POST", "registered-models/alias", json=alias).status_code == 403

    with identity(team, "bob"):
        mlflow.set_registry_uri(team.tracking_uri)
        with pytest.raises(models.PermissionRefused, match="refused bob"):
            models.set_alias(MODEL, "champion", "1")
    assert "champion" not in aliases_of(team, MODEL)


def test_the_deploy_role_promotes_the_challenger(team, trainings, small_sim_dir):
    from behaviorlab.apps import promote
    from tests.helpers import compose_config

    version = aliases_of(team, MODEL)["challenger"]
    overrides = [*small_sim_overrides(small_sim_dir), "tracking=server", f"version={version}"]
    with identity(team, "dora"):
        outcome = promote.run(compose_config("promote", overrides))
    assert outcome["promoted"] is True
    assert aliases_of(team, MODEL)["champion"] == version


def wait_for_parent_run(stack: Stack, job: subprocess.Popen, timeout: float = 180) -> str:
    """The id of the run a training process opened on the server, once it exists."""
    found = api(stack, "bob", "GET", "experiments/get-by-name", params={"experiment_name": MODEL})
    experiment_id = found.json()["experiment"]["experiment_id"]
    query = {"experiment_ids": [experiment_id], "filter": f"tags.pid = '{job.pid}'"}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert job.poll() is None, "the training ended before the server was killed"
        opened = api(stack, "bob", "POST", "runs/search", json=query).json().get("runs", [])
        if opened:
            return opened[0]["info"]["run_id"]
        time.sleep(0.2)
    raise AssertionError(f"no run of process {job.pid} within {timeout} s")


def kill_mlflow_server(stack: Stack) -> None:
    """SIGKILL the MLflow server and its workers, as a crash would; PostgreSQL stays up."""
    os.killpg(int(stack.mlflow_pid.read_text()), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pid_alive(stack.mlflow_pid) is not None and time.monotonic() < deadline:
        time.sleep(0.1)


def test_losing_the_server_mid_training_fails_in_one_line_and_leaves_nothing_half_done(
    team, trainings, small_sim_dir, tmp_path
):
    versions_before = {v["version"]: as_dict(v["tags"]) for v in versions_of(team)}
    aliases_before = aliases_of(team, MODEL)
    env = {**os.environ, **server_env(team, "alice")}
    command = [str(Path(sys.executable).with_name("behaviorlab-train"))]
    command += team_overrides(small_sim_dir, "tuning.fresh=true")
    with open(tmp_path / "err", "w") as err:
        job = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        run_id = wait_for_parent_run(team, job)
        kill_mlflow_server(team)
        returncode = job.wait(timeout=120)
    finally:
        if job.poll() is None:
            job.kill()
        start(team)
    err = (tmp_path / "err").read_text()

    # One clear line, no traceback, exit status 1.
    assert returncode == 1, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [err.strip().splitlines()[-1]]
    assert errors[0].startswith(f"error: lost the MLflow tracking server at {team.tracking_uri}: ")

    # Back up: the registry is as it was (no version without its gate decision, no alias
    # moved), and the run the dead job left RUNNING is ended by the next job's start.
    assert {v["version"]: as_dict(v["tags"]) for v in versions_of(team)} == versions_before
    assert aliases_of(team, MODEL) == aliases_before
    run = api(team, "bob", "GET", "runs/get", params={"run_id": run_id}).json()["run"]
    assert run["info"]["status"] == "RUNNING"
    with identity(team, "alice"):
        mlflow.set_tracking_uri(team.tracking_uri)
        ended = runs.end_abandoned_runs(run["info"]["experiment_id"], stale_after_minutes=30)
    assert ended == [run_id]
    run = api(team, "bob", "GET", "runs/get", params={"run_id": run_id}).json()["run"]
    assert run["info"]["status"] == "KILLED"
    assert "ended without ending the run" in as_dict(run["data"]["tags"])["end_reason"]
    query = {"experiment_ids": [run["info"]["experiment_id"]], "filter": "status = 'RUNNING'"}
    assert api(team, "bob", "POST", "runs/search", json=query).json().get("runs", []) == []
