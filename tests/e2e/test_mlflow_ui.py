"""What a reviewer sees in a real browser: the MLflow UI over a training's store."""

import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import free_port, train_small_version

CHROMIUM = Path("/usr/bin/chromium")
MLFLOW = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "mlflow"
RENDER_TIMEOUT_MS = 30_000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.server,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (Debian package 'chromium')"
    ),
]
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright not installed (dev extra)"
)


def start_ui(store_uri: str, artifact_root: Path, port: int, log: Path) -> subprocess.Popen:
    """`mlflow ui` over the store, in its own process group so its workers stop with it."""
    command = [str(MLFLOW), "ui", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    command += ["--backend-store-uri", store_uri, "--default-artifact-root", str(artifact_root)]
    quiet = os.environ | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no job runners
    with open(log, "w") as handle:
        return subprocess.Popen(
            command, stdout=handle, stderr=handle, start_new_session=True, env=quiet
        )


def wait_for_ui(url: str, server: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    """Poll the UI until it answers; fail with its log if it dies or stays silent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, f"mlflow ui exited:\n{log.read_text()[-2000:]}"
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"mlflow ui not up after {timeout} s:\n{log.read_text()[-2000:]}")


def stop(server: subprocess.Popen) -> None:
    """Stop the UI and its worker processes."""
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def test_run_page_and_registry_page_show_name_metric_and_champion(
    small_sim_dir, mlflow_store, tmp_path
):
    MlflowClient().search_experiments()  # creates the store's tables before the UI opens it
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "mlflow_ui.log"
    server = start_ui(mlflow_store, tmp_path / "mlruns", port, log)
    try:
        summary = train_small_version(small_sim_dir)
        run = MlflowClient().get_run(summary["run_id"])
        auc = run.data.metrics["test_roc_auc"]
        wait_for_ui(f"{base}/health", server, log)
        with playwright_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                expect = playwright_api.expect
                page.goto(f"{base}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}")
                expect(page.get_by_role("heading", name=run.info.run_name).first).to_be_visible(
                    timeout=RENDER_TIMEOUT_MS
                )
                metric = page.get_by_role("link", name="test_roc_auc", exact=True)
                metric_row = page.get_by_role("row").filter(has=metric)
                expect(metric_row).to_contain_text(str(auc), timeout=RENDER_TIMEOUT_MS)
                metric.scroll_into_view_if_needed()
                page.screenshot(path=tmp_path / "run_page.png")

                page.goto(f"{base}/#/models/{summary['model_name']}")
                version = page.get_by_role("row").filter(
                    has=page.get_by_role("link", name=f"Version {summary['model_version']}")
                )
                champion = version.get_by_text(re.compile(r"^@\s*champion$"))
                expect(champion).to_be_visible(timeout=RENDER_TIMEOUT_MS)
                page.screenshot(path=tmp_path / "model_page.png")
            finally:
                browser.close()
    finally:
        stop(server)
