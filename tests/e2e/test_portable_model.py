"""A registered model installs and scores from its own folder, in an environment built from
its requirements.txt alone (what virtualenv serving, build-docker or another host do)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml

from behaviorlab.tracking.models import SERVING_PACKAGES
from tests.helpers import train_small_version

pytestmark = pytest.mark.slow
INSTALL_TIMEOUT = 600

SCORE_EXAMPLE = """
import json, sys
import mlflow

model = mlflow.pyfunc.load_model(sys.argv[1])
scored = model.predict(model.input_example)
shipped = sys.modules["behaviorlab"].__file__
print(json.dumps({"behaviorlab": shipped, "scores": scored.to_dict(orient="list")}))
"""


def build_environment(requirements: Path, folder: Path) -> tuple[Path, float]:
    """A fresh virtual environment with nothing but ``requirements``; its python, seconds."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    python = folder / "bin" / "python"
    install = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    result = subprocess.run(
        [*install, "--no-compile", "-r", str(requirements)],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return python, time.perf_counter() - started


def outside_project_env() -> dict[str, str]:
    """The environment without anything that would find this checkout or this venv."""
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}
    return {key: value for key, value in os.environ.items() if key not in drop}


def test_model_scores_in_a_fresh_environment_from_its_requirements(small_sim_dir, tmp_path):
    outcome = train_small_version(small_sim_dir)
    model_dir = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/churn-sim/{outcome['model_version']}",
            dst_path=str(tmp_path / "model"),
        )
    )
    requirements = (model_dir / "requirements.txt").read_text().split()
    assert [line.split("==")[0] for line in requirements] == list(SERVING_PACKAGES)
    assert all("==" in line for line in requirements)
    assert not any(line.startswith("behaviorlab") for line in requirements)
    flavor = yaml.safe_load((model_dir / "MLmodel").read_text())["flavors"]["python_function"]
    assert flavor["loader_module"] == "mlflow.pyfunc.loaders.code_model"
    assert not (model_dir / "python_model.pkl").exists()

    python, seconds = build_environment(model_dir / "requirements.txt", tmp_path / "venv")
    print(f"\nfresh environment from requirements.txt: {seconds:.0f} s")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run(
        [str(python), "-c", SCORE_EXAMPLE, str(model_dir)],
        cwd=elsewhere,
        env=outside_project_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.splitlines()[-1])
    assert Path(answer["behaviorlab"]).is_relative_to(model_dir / "code")

    there = answer["scores"]
    here = mlflow.pyfunc.load_model(str(model_dir))
    expected = here.predict(here.input_example)
    assert list(there) == list(expected.columns)
    np.testing.assert_allclose(there["probability"], expected["probability"], rtol=1e-12)
    for column in expected.columns.drop("probability"):
        assert there[column] == expected[column].tolist(), column
    assert any(reason is not None for reason in there["reason_1"])
