"""Entry-point manners: data warnings and user errors as single lines on stderr."""

import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from behaviorlab.apps.common import entry_point, exit_on_user_error
from behaviorlab.data.validation import DataQualityWarning
from behaviorlab.errors import DataValidationError


def test_data_warning_then_error_print_one_line_each(capsys):
    @entry_point
    @exit_on_user_error
    def job() -> None:
        message = "events: 2 of 9 rows duplicate an earlier row"
        warnings.warn(message, DataQualityWarning, stacklevel=1)
        raise DataValidationError("column 'amount' has 1 of 9 infinite amounts")

    with pytest.raises(SystemExit) as stopped:
        job()
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "warning: events: 2 of 9 rows duplicate an earlier row",
        "error: column 'amount' has 1 of 9 infinite amounts",
    ]


def test_a_fresh_store_adds_no_lines_before_the_error(tmp_path):
    script = Path(sys.executable).parent / "behaviorlab-score"
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [str(script), "registered_model=churn-sim/999", f"paths.root_dir={tmp_path}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: registered_model: no registered model named 'churn-sim'; registered models: none"
    ]
