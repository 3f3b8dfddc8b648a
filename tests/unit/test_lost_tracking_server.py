"""A tracking server that stops answering is one line and exit status 1, whatever wrapped it."""

import time

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from behaviorlab.apps.common import exit_on_user_error
from behaviorlab.tracking import runs
from behaviorlab.tracking.reachability import find_lost_tracking_server
from tests.helpers import free_port


@pytest.fixture
def silent_server(monkeypatch):
    """The URL of a port nothing listens on, as the tracking and registry URI; no retries."""
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    saved = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    mlflow.set_tracking_uri(url)
    mlflow.set_registry_uri(url)
    yield url
    mlflow.set_tracking_uri(saved[0])
    mlflow.set_registry_uri(saved[1])


def test_a_refused_connection_names_the_server_and_the_reason(silent_server):
    with pytest.raises(MlflowException) as raised:
        MlflowClient().search_experiments()
    lost = find_lost_tracking_server(raised.value)
    assert (
        str(lost)
        == f"lost the MLflow tracking server at {silent_server}: [Errno 111] Connection refused"
    )
    assert lost.exit_status == 1


def test_a_job_that_loses_the_server_exits_1_with_one_line(silent_server, capsys):
    @exit_on_user_error
    def job() -> None:
        with mlflow.start_run():
            pass

    with pytest.raises(SystemExit) as stopped:
        job()
    assert stopped.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        f"error: lost the MLflow tracking server at {silent_server}: [Errno 111] Connection refused"
    ]


def test_another_server_or_another_failure_is_not_the_tracking_server(silent_server):
    other = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(MlflowException) as raised:
        MlflowClient(tracking_uri=other).search_experiments()
    assert find_lost_tracking_server(raised.value) is None
    assert find_lost_tracking_server(ValueError("no server involved")) is None


def test_a_job_pointed_at_a_server_that_is_not_running_stops_at_once(monkeypatch, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)  # as `source .team/env` does

    @exit_on_user_error
    def job() -> None:
        runs.configure("sqlite:///unused.db")

    started = time.monotonic()
    with pytest.raises(SystemExit) as stopped:
        job()
    assert time.monotonic() - started < 5
    assert stopped.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        f"error: cannot reach the MLflow tracking server at {url}: [Errno 111] Connection "
        "refused (is it running? make server starts the team's)"
    ]
