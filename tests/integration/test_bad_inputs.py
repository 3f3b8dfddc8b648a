"""Bad input through the real apps: one `error:` line naming the problem, exit 2, nothing written.

Each case writes a small file into the test's folder and runs behaviorlab-analyze in-process
(``run`` on a config composed as the command line would); a few run the installed scripts
as subprocesses, as a user would. A refused case must exit 2 with exactly one stderr line
starting ``error:`` that names the column, key or file, no traceback, no new file outside
the app's run folder, and no MLflow run or registered version. Accepted cases (a UTF-8 byte
order mark, a declared Latin-1 encoding, a customer table mostly matching the events)
assert the correct reading instead.

Bad config values (a zero chunk size, a fraction above 1, a date that does not parse, an
output path that cannot be written, a model reference naming no version) run through
each app's ``run`` and must be refused the same way before any data is read: the
simulator, which writes data/sim when the data is absent, must not have run.
"""

import gzip
import os
import shutil
import subprocess
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from behaviorlab.apps import analyze, promote, score, simulate, train
from behaviorlab.apps.common import compose_app, to_plain
from behaviorlab.data.simulator import write_simulation
from behaviorlab.data.sources import load_dataset
from behaviorlab.data.validation import DataQualityWarning

SCRIPTS = Path(sys.executable).parent
HEADER = "customer_id,timestamp,event,amount"
N_ROWS = 24
IDS = [f"c{number}" for number in range(6)]


def event_rows(**column) -> list[str]:
    """N_ROWS good event lines over IDS; a keyword replaces one column's values."""
    values = {
        "customer_id": [IDS[row % len(IDS)] for row in range(N_ROWS)],
        "timestamp": [f"2024-0{1 + row % 5}-{10 + row % 9} 10:00:00" for row in range(N_ROWS)],
        "event": ["purchase"] * N_ROWS,
        "amount": [f"{5 + row}.5" for row in range(N_ROWS)],
    } | column
    return [",".join(map(str, row)) for row in zip(*values.values(), strict=True)]


def events_text(**column) -> str:
    return "\n".join([HEADER, *event_rows(**column)]) + "\n"


def source(path: Path, source_format: str, *extra: str) -> list[str]:
    """Overrides reading ``path`` as the events under the default data config, no customers."""
    return [
        "data=sim",
        f"data.path={path}",
        f"data.events.format={source_format}",
        "data.customers=null",
        *extra,
    ]


def csv_events(folder: Path, text: str | bytes, *extra: str, name: str = "events.csv"):
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return source(path, "csv", *extra)


def with_customers(folder: Path, ids: list[str], plans: list[str] | None = None) -> list[str]:
    """Good events plus a customer table holding ``ids`` (all on plan 'pro' by default)."""
    customers = folder / "customers.csv"
    rows = zip(ids, plans or ["pro"] * len(ids), strict=True)
    customers.write_text("customer_id,plan\n" + "".join(f"{i},{plan}\n" for i, plan in rows))
    overrides = csv_events(folder, events_text())
    overrides.remove("data.customers=null")
    return [*overrides, f"data.customers.path={customers}", "data.customers.format=csv"]


def cut_gzip(folder: Path, at_line_boundary: bool) -> list[str]:
    """A gzip copy that stops early: mid-line, or at a line after a full flush (no trailer)."""
    data = events_text().encode()
    cut = data.index(b"\n", len(data) // 2) + (1 if at_line_boundary else -5)
    if at_line_boundary:
        stream = zlib.compressobj(wbits=31)
        content = stream.compress(data[:cut]) + stream.flush(zlib.Z_FULL_FLUSH)
    else:
        whole = gzip.compress(data)
        content = whole[: len(whole) // 2]
    return csv_events(folder, content, name="events.csv.gz")


def parquet_events(folder: Path, frame: pd.DataFrame) -> list[str]:
    path = folder / "events.parquet"
    frame.to_parquet(path)
    return source(path, "parquet")


def good_frame(**column) -> pd.DataFrame:
    rows = [line.split(",") for line in event_rows()]
    frame = pd.DataFrame(rows, columns=HEADER.split(","))
    return frame.assign(amount=frame["amount"].astype(float), **column)


@dataclass(frozen=True)
class Case:
    name: str
    write: Callable[[Path], list[str]]  # writes the inputs, returns the command-line overrides
    needles: tuple[str, ...]  # what the one error line must contain


REFUSED = [
    Case(
        "missing_column",
        lambda f: csv_events(f, events_text().replace("event,", "kind,", 1)),
        ("'event'", "is missing", "available columns"),
    ),
    Case(
        "misnamed_mapped_column",
        lambda f: csv_events(f, events_text(), "+data.events.columns.timestamp=when"),
        ("'timestamp' (mapped from 'when') is missing",),
    ),
    Case("empty_file", lambda f: csv_events(f, ""), ("events.csv", "is empty (0 bytes)")),
    Case("header_only", lambda f: csv_events(f, HEADER + "\n"), ("events.csv", "has no rows")),
    Case(
        "all_null_ids",
        lambda f: csv_events(f, events_text(customer_id=[""] * N_ROWS)),
        ("'customer_id' is empty in 24 of 24 rows",),
    ),
    Case(
        "some_null_ids",
        lambda f: csv_events(f, events_text(customer_id=["", "c1", *IDS * 3, *IDS[:4]])),
        ("'customer_id' is empty in 1 of 24 rows", "row 0"),
    ),
    Case(
        "unparseable_timestamps",
        lambda f: csv_events(f, events_text(timestamp=["last tuesday"] * N_ROWS)),
        ("'timestamp'", "do not parse as timestamps", "'last tuesday'"),
    ),
    Case(
        "mixed_format_timestamps",
        lambda f: csv_events(f, events_text(timestamp=["2024-01-05", "05/01/2024"] * 12)),
        ("'timestamp' has 12 of 24 values that do not parse", "'05/01/2024'"),
    ),
    Case(
        "future_timestamps",
        lambda f: csv_events(f, events_text(timestamp=["2024-01-05", "2099-01-01"] * 12)),
        ("'timestamp' has 12 of 24 timestamps later than now",),
    ),
    Case(
        "timestamps_in_1900",
        lambda f: csv_events(f, events_text(timestamp=["2024-01-05", "1900-01-01"] * 12)),
        ("'timestamp' has 12 of 24 timestamps before validation.earliest (1990-01-01)",),
    ),
    Case(
        "timestamps_in_1970",
        lambda f: csv_events(f, events_text(timestamp=["1970-01-01 00:00:00"] * N_ROWS)),
        ("'timestamp' has 24 of 24 timestamps before validation.earliest",),
    ),
    Case(  # decided: epoch numbers are refused with a recipe, never guessed (seconds or ms?)
        "epoch_integer_timestamps",
        lambda f: csv_events(f, events_text(timestamp=[1704067200 + 3600 * n for n in range(24)])),
        ("'timestamp'", "do not parse", "look like Unix epoch seconds", "to_timestamp"),
    ),
    Case(
        "negative_amounts",
        lambda f: csv_events(f, events_text(amount=["-3.5", "2"] * 12)),
        ("'amount' has 12 of 24 negative amounts", "allow_negative_amounts"),
    ),
    Case(
        "non_numeric_amounts",
        lambda f: csv_events(f, events_text(amount=["$3", "2"] * 12)),
        ("'amount' has 12 of 24 values that are not numbers", "'$3'"),
    ),
    Case(
        "infinite_amounts_csv",
        lambda f: csv_events(f, events_text(amount=["inf", "2", "-inf", "4"] * 6)),
        ("'amount' has 12 of 24 infinite amounts",),
    ),
    Case(
        "infinite_amounts_parquet",
        lambda f: parquet_events(f, good_frame().assign(amount=[float("inf")] + [1.0] * 23)),
        ("'amount' has 1 of 24 infinite amounts",),
    ),
    Case(
        "garbage_csv",
        lambda f: csv_events(f, bytes(range(256)) * 20),
        ("events.csv", "cannot read", "events.csv.sep"),
    ),
    Case(
        "ragged_csv",
        lambda f: csv_events(f, events_text() + "c1,2024-01-02,view,1,extra,fields\n"),
        ("events.csv", "cannot read", "as many fields as the header"),
    ),
    Case(
        "wrong_delimiter",
        lambda f: csv_events(f, events_text().replace(",", ";")),
        ("events.csv", "single column", "set events.csv.sep: ';'"),
    ),
    Case(
        "latin1_bytes",
        lambda f: csv_events(f, events_text(event=["café"] * N_ROWS).encode("latin-1")),
        ("events.csv", "not utf-8", "events.encoding: latin-1"),
    ),
    Case(
        "garbage_parquet",
        lambda f: source(write_bytes(f / "events.parquet", bytes(range(256)) * 4), "parquet"),
        ("events.parquet", "not a readable Parquet file"),
    ),
    Case(
        "zero_byte_parquet",
        lambda f: source(write_bytes(f / "events.parquet", b""), "parquet"),
        ("events.parquet", "is empty (0 bytes)"),
    ),
    Case(
        "csv_named_parquet",
        lambda f: source(write_bytes(f / "events.parquet", events_text().encode()), "parquet"),
        ("events.parquet", "set events.format: csv"),
    ),
    Case(
        "gzip_truncated_mid_line",
        lambda f: cut_gzip(f, at_line_boundary=False),
        ("events.csv.gz", "truncated gzip"),
    ),
    Case(
        "gzip_truncated_at_line_boundary",
        lambda f: cut_gzip(f, at_line_boundary=True),
        ("events.csv.gz", "truncated gzip"),
    ),
    Case(
        "directory_path",
        lambda f: source(make_folder(f / "parts"), "csv"),
        ("events.path", "parts is a directory"),
    ),
    Case("missing_file", lambda f: source(f / "absent.csv", "csv"), ("no file at", "absent.csv")),
    Case(
        "sql_syntax_error",
        lambda f: source(f, "sql", '+data.events.query="selec * from events"'),
        ("events.query failed in DuckDB", "syntax error"),
    ),
    Case(
        "id_spelling_mismatch",
        lambda f: with_customers_spelled(f),
        ("'customer_id': 0.0%", "'1.0'", "trailing '.0'"),
    ),
    Case(
        "no_id_overlap",
        lambda f: with_customers(f, ["x1", "x2", "x3"]),
        ("'customer_id': 0.0% (0 of 3)", "'x1'", "same customers"),
    ),
    Case(
        "partial_id_overlap_below_minimum",
        lambda f: with_customers(f, [*IDS[:2], "x1", "x2", "x3"]),
        ("'customer_id': 40.0% (2 of 5)", "below validation.min_id_overlap (50%)"),
    ),
    Case(
        "repeated_customer_ids",
        lambda f: with_customers(f, [*IDS, IDS[0]], plans=["pro"] * 6 + ["free"]),
        ("'customer_id' repeats ids",),
    ),
]


def make_folder(path: Path) -> Path:
    path.mkdir()
    return path


def write_bytes(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def with_customers_spelled(folder: Path) -> list[str]:
    """Integer event ids against a customer table that wrote them as decimals (1.0)."""
    numbers = [str(1 + row % 6) for row in range(N_ROWS)]
    overrides = csv_events(folder, events_text(customer_id=numbers))
    customers = folder / "customers.csv"
    customers.write_text("customer_id,plan\n" + "".join(f"{n}.0,pro\n" for n in range(1, 7)))
    overrides.remove("data.customers=null")
    return [*overrides, f"data.customers.path={customers}", "data.customers.format=csv"]


def files_under(folder: Path) -> dict[str, int]:
    """Every file below ``folder`` with its modification time (ns), store excluded."""
    return {
        str(path.relative_to(folder)): path.stat().st_mtime_ns
        for path in folder.rglob("*")
        if path.is_file() and path.relative_to(folder).parts[0] != "mlruns"
    }


def assert_one_error_line(code: int, err: str, needles: tuple[str, ...]) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"


def assert_nothing_logged(tracking_uri: str, root: Path) -> None:
    """No run left RUNNING and no registered version (the store may not even exist)."""
    if not (root / "mlruns" / "mlflow.db").exists():
        return
    client = MlflowClient(tracking_uri=tracking_uri)
    experiments = [exp.experiment_id for exp in client.search_experiments()]
    assert not client.search_runs(experiments, "attributes.status = 'RUNNING'")
    assert not client.search_registered_models()


def run_analyze(overrides: list[str], capsys) -> tuple[int, str]:
    """behaviorlab-analyze in-process; returns the exit status and stderr."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        analyze.run(compose_app("analyze", [*overrides, "analysis=rfm"]))
    return stop.value.code, capsys.readouterr().err


@pytest.mark.parametrize("case", REFUSED, ids=lambda case: case.name)
def test_bad_input_is_refused_with_one_line(case, tmp_path, mlflow_store, capsys):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    overrides = case.write(inputs)
    before = files_under(tmp_path)

    code, err = run_analyze(overrides, capsys)

    assert_one_error_line(code, err, case.needles)
    assert files_under(tmp_path) == before
    assert_nothing_logged(mlflow_store, tmp_path)


@pytest.fixture(scope="module")
def tiny_sim(tmp_path_factory) -> Path:
    """A tiny simulation to stand for the user's existing data/sim files."""
    folder = tmp_path_factory.mktemp("tiny_sim")
    write_simulation(folder, n_customers=30, seed=5, start="2024-01-01", end="2024-03-31")
    return folder


def test_mistyped_path_under_sim_neither_simulates_nor_touches_existing(
    tiny_sim, tmp_path, mlflow_store, capsys
):
    sim = tmp_path / "data" / "sim"
    shutil.copytree(tiny_sim, sim)
    before = files_under(tmp_path)

    code, err = run_analyze(["data=sim", f"data.path={tmp_path / 'nope.parquet'}"], capsys)

    assert_one_error_line(code, err, ("no file at", "nope.parquet"))
    assert files_under(tmp_path) == before
    assert_nothing_logged(mlflow_store, tmp_path)


@pytest.mark.parametrize("override", ["data.path", "data.customers.path"])
def test_overridden_path_on_a_fresh_clone_does_not_simulate(override, tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere.parquet"
    code, err = run_analyze(["data=sim", f"{override}={elsewhere}"], capsys)

    missing = "elsewhere.parquet" if override == "data.path" else "events.parquet"
    assert_one_error_line(code, err, ("no file at", missing))
    assert not (tmp_path / "data").exists()


def test_byte_order_mark_is_read_as_utf8(tmp_path):
    overrides = csv_events(tmp_path, b"\xef\xbb\xbf" + events_text().encode())
    dataset = load_dataset(to_plain(compose_app("analyze", overrides).data))
    events = dataset.events.to_pyarrow().to_pandas()

    assert events.columns[0] == "customer_id"
    assert sorted(events["customer_id"].unique()) == IDS
    assert len(events) == N_ROWS


def test_declared_latin1_encoding_is_honoured(tmp_path):
    text = events_text(event=["café"] * N_ROWS).encode("latin-1")
    overrides = csv_events(tmp_path, text, "+data.events.encoding=latin-1")
    dataset = load_dataset(to_plain(compose_app("analyze", overrides).data))
    events = dataset.events.to_pyarrow().to_pandas()

    assert events["event"].unique().tolist() == ["café"]
    assert len(events) == N_ROWS


def test_mostly_matching_customer_table_is_accepted_with_its_share(tmp_path):
    overrides = with_customers(tmp_path, [*IDS, "x1", "x2"])
    with pytest.warns(DataQualityWarning, match=r"'customer_id': 75.0% \(6 of 8\)"):
        dataset = load_dataset(to_plain(compose_app("analyze", overrides).data))

    assert sorted(dataset.customers["customer_id"]) == sorted([*IDS, "x1", "x2"])


def run_script(name: str, overrides: list[str], root: Path) -> subprocess.CompletedProcess:
    """An installed app as a user runs it, from ``root`` (BEHAVIORLAB_ROOT is the test's)."""
    return subprocess.run(
        [str(SCRIPTS / name), *overrides],
        cwd=root,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=600,
    )


def new_files_outside_run_folder(before: dict, root: Path, app: str) -> list[str]:
    """Files that appeared or changed, other than Hydra's run folder outputs/<app>/<time>/."""
    run_folder = str(Path("outputs") / app)
    return [
        name
        for name, stamp in files_under(root).items()
        if before.get(name) != stamp and not name.startswith(run_folder)
    ]


@pytest.mark.slow
def test_train_script_with_mistyped_path_under_sim(tiny_sim, tmp_path, mlflow_store):
    shutil.copytree(tiny_sim, tmp_path / "data" / "sim")
    before = files_under(tmp_path)

    done = run_script("behaviorlab-train", [f"data.path={tmp_path / 'nope.parquet'}"], tmp_path)

    assert_one_error_line(done.returncode, done.stderr, ("no file at", "nope.parquet"))
    assert new_files_outside_run_folder(before, tmp_path, "train") == []
    assert_nothing_logged(mlflow_store, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case_name", "needles"),
    [
        ("gzip_truncated_at_line_boundary", ("events.csv.gz", "truncated gzip")),
        ("garbage_parquet", ("events.parquet", "not a readable Parquet file")),
    ],
)
def test_analyze_script_refuses_bad_files(case_name, needles, tmp_path, mlflow_store):
    (case,) = [case for case in REFUSED if case.name == case_name]
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    overrides = case.write(inputs)
    before = files_under(tmp_path)

    done = run_script("behaviorlab-analyze", overrides, tmp_path)

    assert_one_error_line(done.returncode, done.stderr, needles)
    assert new_files_outside_run_folder(before, tmp_path, "analyze") == []
    assert_nothing_logged(mlflow_store, tmp_path)


# Config values: refused before any data is read or any run opens


@dataclass(frozen=True)
class ConfigCase:
    name: str
    app: str
    overrides: Callable[[Path], list[str]]  # given the project root (BEHAVIORLAB_ROOT)
    needles: tuple[str, ...]


def fixed(*overrides: str) -> Callable[[Path], list[str]]:
    return lambda root: list(overrides)


def score_output_into_folder(root: Path) -> list[str]:
    return [f"output.path={make_folder(root / 'scores.parquet')}"]


def score_output_under_file(root: Path) -> list[str]:
    return [f"output.path={write_bytes(root / 'occupied', b'x')}/scores.parquet"]


def analyze_output_on_file(root: Path) -> list[str]:
    return ["analysis=rfm", f"output_dir={write_bytes(root / 'report', b'x')}"]


def simulate_into_file(root: Path) -> list[str]:
    return [f"out_dir={write_bytes(root / 'sim_out', b'x')}"]


CONFIG_REFUSED = [
    ConfigCase(
        "score_chunk_size_zero", "score", fixed("chunk_size=0"), ("chunk_size", ">= 1", "0")
    ),
    ConfigCase(
        "score_chunk_size_negative", "score", fixed("chunk_size=-5"), ("chunk_size", ">= 1", "-5")
    ),
    ConfigCase(
        "score_cutoff_not_a_date",
        "score",
        fixed("cutoff=notadate"),
        ("cutoff must be a date", "'notadate'"),
    ),
    ConfigCase("score_window_days_zero", "score", fixed("window_days=0"), ("window_days", ">= 1")),
    ConfigCase("score_psi_warn_zero", "score", fixed("psi_warn=0"), ("psi_warn", "> 0")),
    ConfigCase(
        "score_output_unknown_suffix",
        "score",
        fixed("output.path=scores.txt"),
        ("output.path must end in .parquet or .csv", "scores.txt"),
    ),
    ConfigCase(
        "score_output_is_a_folder",
        "score",
        score_output_into_folder,
        ("output.path is a folder", "scores.parquet"),
    ),
    ConfigCase(
        "score_output_parent_is_a_file",
        "score",
        score_output_under_file,
        ("output.path cannot be created", "occupied is a file"),
    ),
    ConfigCase(
        "score_reference_malformed",
        "score",
        fixed("registered_model=churn-sim/v2"),
        ("registered_model must be name@alias, name/version", "'churn-sim/v2'"),
    ),
    ConfigCase(
        "score_missing_version",
        "score",
        fixed("registered_model=churn-sim/999"),
        ("registered_model", "churn-sim has no version or alias '999'", "versions: 1"),
    ),
    ConfigCase(
        "score_missing_alias",
        "score",
        fixed("registered_model=churn-sim@staging"),
        ("registered_model", "no version or alias 'staging'", "aliases: champion -> v1"),
    ),
    ConfigCase(
        "score_missing_model",
        "score",
        fixed("registered_model=retention-sim@champion"),
        ("registered_model", "no registered model named 'retention-sim'", "churn-sim"),
    ),
    ConfigCase(
        "score_min_id_overlap_above_one",
        "score",
        fixed("data.validation.min_id_overlap=1.5"),
        ("data.validation.min_id_overlap", "in [0, 1]"),
    ),
    ConfigCase(
        "train_negative_trials", "train", fixed("tuning.n_trials=-1"), ("tuning.n_trials", ">= 1")
    ),
    ConfigCase("train_zero_timeout", "train", fixed("tuning.timeout=0"), ("tuning.timeout", "> 0")),
    ConfigCase(
        "train_held_out_fraction_above_one",
        "train",
        fixed("split.held_out_fraction=1.5"),
        ("split.held_out_fraction", "in (0, 1)", "1.5"),
    ),
    ConfigCase(
        "train_horizon_zero", "train", fixed("task.horizon_days=0"), ("task.horizon_days", ">= 1")
    ),
    ConfigCase(
        "train_horizon_negative",
        "train",
        fixed("task.horizon_days=-30"),
        ("task.horizon_days", ">= 1", "-30"),
    ),
    ConfigCase(
        "train_lookback_zero", "train", fixed("task.lookback_days=0"), ("task.lookback_days",)
    ),
    ConfigCase(
        "train_cutoff_not_a_date",
        "train",
        fixed("task.snapshots.cutoffs=[2025-13-45]"),
        ("task.snapshots.cutoffs", "'2025-13-45'"),
    ),
    ConfigCase(
        "train_snapshot_start_after_end",
        "train",
        fixed("task.snapshots.start=2025-06-01"),
        ("task.snapshots", "start 2025-06-01 must not be after end 2025-05-01"),
    ),
    ConfigCase(
        "train_every_days_zero",
        "train",
        fixed("task.snapshots.every_days=0"),
        ("task.snapshots.every_days", ">= 1"),
    ),
    ConfigCase(
        "train_relative_without_days",
        "train",
        fixed("task=conversion", "task.snapshots.days_after_signup=null"),
        ("task.snapshots", "kind relative needs days_after_signup"),
    ),
    ConfigCase(
        "train_shares_leave_no_training",
        "train",
        fixed("split.valid_share=0.5", "split.test_share=0.5"),
        ("split", "valid_share + test_share", "below 1"),
    ),
    ConfigCase(
        "train_one_fold",
        "train",
        fixed("split=customer_cv", "split.n_folds=1"),
        ("split.n_folds", ">= 2"),
    ),
    ConfigCase(
        "train_gate_alpha_half",
        "train",
        fixed("registry.gate.alpha=0.5"),
        ("registry.gate.alpha", "in (0, 0.5)"),
    ),
    ConfigCase(
        "train_gate_few_resamples",
        "train",
        fixed("registry.gate.n_boot=10"),
        ("registry.gate.n_boot", ">= 100"),
    ),
    ConfigCase(
        "train_tier_threshold_above_one",
        "train",
        fixed("scoring.tiers.medium=1.5"),
        ("scoring.tiers", "tier 'medium'", "in [0, 1]"),
    ),
    ConfigCase(
        "train_reasons_for_unknown_tier",
        "train",
        fixed("scoring.reason_tiers=[urgent]"),
        ("reason_tiers names unknown tiers ['urgent']",),
    ),
    ConfigCase(
        "train_log_scale_from_zero",
        "train",
        fixed("model.search_space.learning_rate.low=0.0"),
        ("model.search_space", "'learning_rate'", "low must be > 0"),
    ),
    ConfigCase(
        "promote_missing_version",
        "promote",
        fixed("version=999"),
        ("version", "churn-sim has no version or alias '999'", "versions: 1"),
    ),
    ConfigCase(
        "promote_unknown_action",
        "promote",
        fixed("action=demote"),
        ("action must be one of ['promote', 'rollback']", "'demote'"),
    ),
    ConfigCase(
        "promote_negative_margin",
        "promote",
        fixed("registry.gate.margin=-0.1"),
        ("registry.gate.margin", ">= 0"),
    ),
    ConfigCase(
        "analyze_k_below_two",
        "analyze",
        fixed("analysis=clusters", "analysis.clusters.k_range=[1,2,3]"),
        ("analysis.clusters.k_range", ">= 2"),
    ),
    ConfigCase(
        "analyze_zero_periods",
        "analyze",
        fixed("analysis=cohorts", "analysis.cohorts.max_periods=0"),
        ("analysis.cohorts.max_periods", ">= 1"),
    ),
    ConfigCase(
        "analyze_funnel_window_not_a_duration",
        "analyze",
        fixed("analysis=funnel", "analysis.funnel.window=soon"),
        ("analysis.funnel.window", "duration", "'soon'"),
    ),
    ConfigCase(
        "analyze_rfm_cutoff_not_a_date",
        "analyze",
        fixed("analysis=rfm", "analysis.rfm.cutoff=notadate"),
        ("analysis.rfm.cutoff must be a date",),
    ),
    ConfigCase(
        "analyze_clv_unknown_model",
        "analyze",
        fixed("analysis=clv", "analysis.clv.transactions_model=bgnbd"),
        ("analysis.clv.transactions_model must be one of", "'bgnbd'"),
    ),
    ConfigCase(
        "analyze_clv_zero_margin",
        "analyze",
        fixed("analysis=clv", "analysis.clv.margin=0"),
        ("analysis.clv.margin", "(0, 1]"),
    ),
    ConfigCase(
        "analyze_lift_unknown_outcome",
        "analyze",
        fixed("analysis=lift", "analysis.lift.outcome.kind=sales"),
        ("analysis.lift.outcome.kind must be one of", "'sales'"),
    ),
    ConfigCase(
        "analyze_power_above_one",
        "analyze",
        fixed("analysis=power", "analysis.power.power=1.2"),
        ("analysis.power.power", "(0, 1)"),
    ),
    ConfigCase(
        "analyze_output_dir_is_a_file",
        "analyze",
        analyze_output_on_file,
        ("output_dir is a file", "report"),
    ),
    ConfigCase(
        "simulate_no_customers", "simulate", fixed("n_customers=0"), ("n_customers", ">= 1")
    ),
    ConfigCase(
        "simulate_start_after_end",
        "simulate",
        fixed("start=2025-07-01"),
        ("start 2025-07-01 must be before end 2025-06-30",),
    ),
    ConfigCase(
        "simulate_horizon_zero", "simulate", fixed("horizon_days=0"), ("horizon_days", ">= 1")
    ),
    ConfigCase(
        "simulate_oracle_cutoff_not_a_date",
        "simulate",
        fixed("oracle_cutoff=notadate"),
        ("oracle_cutoff must be a date",),
    ),
    ConfigCase(
        "simulate_out_dir_is_a_file", "simulate", simulate_into_file, ("out_dir is a file",)
    ),
]

APPS = {
    "train": train.run,
    "score": score.run,
    "promote": promote.run,
    "analyze": analyze.run,
    "simulate": simulate.run,
}


@pytest.fixture(scope="module")
def registry_with_champion(tmp_path_factory) -> Path:
    """An MLflow store holding churn-sim v1 as champion, built once (creating a store is slow)."""
    store = tmp_path_factory.mktemp("registry") / "mlflow.db"
    uri = f"sqlite:///{store}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("churn-sim")
    version = client.create_model_version("churn-sim", source=str(store.parent / "model"))
    client.set_registered_model_alias("churn-sim", "champion", version.version)
    return store


def registered_versions(tracking_uri: str, root: Path) -> int:
    if not (root / "mlruns" / "mlflow.db").exists():
        return 0
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    return len(client.search_model_versions())


def assert_no_running_run(tracking_uri: str, root: Path) -> None:
    if not (root / "mlruns" / "mlflow.db").exists():
        return
    client = MlflowClient(tracking_uri=tracking_uri)
    experiments = [exp.experiment_id for exp in client.search_experiments()]
    assert not client.search_runs(experiments, "attributes.status = 'RUNNING'")


@pytest.mark.parametrize("case", CONFIG_REFUSED, ids=lambda case: case.name)
def test_bad_config_value_is_refused_before_data(
    case, tmp_path, mlflow_store, registry_with_champion, capsys
):
    if case.app in ("score", "promote"):
        shutil.copyfile(registry_with_champion, tmp_path / "mlruns" / "mlflow.db")
    cfg = compose_app(case.app, case.overrides(tmp_path))
    before, versions = files_under(tmp_path), registered_versions(mlflow_store, tmp_path)
    capsys.readouterr()

    with pytest.raises(SystemExit) as stop:
        APPS[case.app](cfg)

    assert_one_error_line(stop.value.code, capsys.readouterr().err, case.needles)
    assert not (tmp_path / "data").exists(), "data was read (the simulator wrote data/sim)"
    assert files_under(tmp_path) == before
    assert registered_versions(mlflow_store, tmp_path) == versions
    assert_no_running_run(mlflow_store, tmp_path)
