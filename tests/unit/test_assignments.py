"""Assignment tables: read like customer tables, refused with one line naming the column."""

import hashlib

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from behaviorlab.data.sources import load_assignments, load_dataset, load_events
from behaviorlab.data.staging import update_digest
from behaviorlab.errors import DataValidationError

NOW = pd.Timestamp("2024-06-30")
EVENTS_CSV = (
    "customer_id,timestamp,event\n"
    "a,2024-01-01 10:00:00,view\n"
    "b,2024-01-02 11:30:00,view\n"
    "c,2024-01-03 08:00:00,purchase\n"
)
ASSIGNMENTS_CSV = (
    "user,arm,when,variant\n"
    "a,treatment,2024-01-02,blue\n"
    "b,control,2024-01-02,\n"
    "x,control,2024-01-02 00:00:00+01:00,\n"
)
MAPPING = {"customer_id": "user", "group": "arm", "assigned_at": "when"}


def config(tmp_path, assignments_text=ASSIGNMENTS_CSV, columns=MAPPING):
    events = tmp_path / "events.csv"
    events.write_text(EVENTS_CSV)
    data_cfg = {"name": "tiny", "events": {"path": str(events)}, "validation": {}}
    if assignments_text is not None:
        path = tmp_path / "assignments.csv"
        path.write_text(assignments_text)
        data_cfg["assignments"] = {"path": str(path), "columns": columns}
    return data_cfg


def test_assignments_are_mapped_and_typed(tmp_path):
    assignments = load_assignments(config(tmp_path)["assignments"], now=NOW)
    expected = pd.DataFrame(
        {
            "customer_id": pd.Series(["a", "b", "x"], dtype="str"),
            "group": pd.Series(["treatment", "control", "control"], dtype="str"),
            "assigned_at": pd.Series(
                pd.to_datetime(["2024-01-02 00:00", "2024-01-02 00:00", "2024-01-01 23:00"]),
                dtype="datetime64[us]",
            ),
            "variant": pd.Series(["blue", None, None], dtype="str"),
        }
    )
    assert_frame_equal(assignments, expected)


def test_dataset_carries_assignments_and_keeps_the_old_fingerprint_without(tmp_path):
    without = load_dataset(config(tmp_path, None), now=NOW)
    assert without.assignments is None
    digest = hashlib.sha256()
    update_digest(digest, load_events(config(tmp_path, None)["events"], now=NOW), first=True)
    digest.update(b"none")
    assert without.fingerprint == digest.hexdigest()[:16]
    with_groups = load_dataset(config(tmp_path), now=NOW)
    assert with_groups.assignments["customer_id"].tolist() == ["a", "b", "x"]
    assert with_groups.fingerprint != without.fingerprint
    moved = ASSIGNMENTS_CSV.replace("a,treatment", "a,control")
    assert load_dataset(config(tmp_path, moved), now=NOW).fingerprint != with_groups.fingerprint


@pytest.mark.parametrize(
    ("text", "columns", "message"),
    [
        ("user,when\na,2024-01-02\n", MAPPING, "required column 'group' \\(mapped from 'arm'"),
        (ASSIGNMENTS_CSV, {**MAPPING, "group": "team"}, "'group' \\(mapped from 'team'\\)"),
        ("user,arm,when\n,control,2024-01-02\n", MAPPING, "'user' \\(customer_id\\) is empty"),
        ("user,arm,when\na,control,soon\n", MAPPING, "'when' \\(assigned_at\\) has 1 of 1 values"),
        ("user,arm,when\na,control,2030-01-01\n", MAPPING, "'when' \\(assigned_at\\).*later than"),
        (
            "user,arm,when\na,control,2024-01-02\na,treatment,2024-01-03\n",
            MAPPING,
            "'arm' \\(group\\) puts 2 of 2 rows' customers in more than one group: row 0 'a -> ",
        ),
        ("user,arm,when\n", MAPPING, "assignments: the source .* has no rows"),
        ("user,arm,when\nz,control,2024-01-02\n", MAPPING, "none of the 1 assigned 'customer_id'"),
    ],
)
def test_bad_assignments_are_refused_in_one_line(tmp_path, text, columns, message):
    with pytest.raises(DataValidationError, match=message) as error:
        load_dataset(config(tmp_path, text, columns), now=NOW)
    assert "\n" not in str(error.value)
