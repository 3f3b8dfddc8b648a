"""Entry-point manners: data warnings and user errors as single lines on stderr."""

import warnings

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
