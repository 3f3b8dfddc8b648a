"""Sources: every format lands as the same canonical frame; config mistakes are clear."""

import gzip

import duckdb
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from behaviorlab.data.sources import load_customers, load_dataset, load_events
from behaviorlab.errors import ConfigError, DataValidationError

NOW = pd.Timestamp("2024-06-30")
MAPPING = {"customer_id": "user", "timestamp": "ts", "event": "action", "amount": "price"}
CSV_TEXT = (
    "user,ts,action,price,platform\n"
    "007,2024-01-01 10:00:00,view,,ios\n"
    "007,2024-01-02 11:30:00,purchase,12.5,ios\n"
    "010,2024-01-03 08:00:00,view,,web\n"
)


def expected_events() -> pd.DataFrame:
    """What CSV_TEXT becomes under MAPPING: contract columns first, properties kept."""
    return pd.DataFrame(
        {
            "customer_id": pd.Series(["007", "007", "010"], dtype="str"),
            "timestamp": pd.Series(
                pd.to_datetime(
                    ["2024-01-01 10:00:00", "2024-01-02 11:30:00", "2024-01-03 08:00:00"]
                ),
                dtype="datetime64[us]",
            ),
            "event": pd.Series(["view", "purchase", "view"], dtype="str"),
            "amount": [float("nan"), 12.5, float("nan")],
            "platform": pd.Series(["ios", "ios", "web"], dtype="str"),
        }
    )


def user_frame() -> pd.DataFrame:
    """CSV_TEXT as a frame with the user's names and native types."""
    return pd.DataFrame(
        {
            "user": ["007", "007", "010"],
            "ts": pd.to_datetime(["2024-01-01 10:00", "2024-01-02 11:30", "2024-01-03 08:00"]),
            "action": ["view", "purchase", "view"],
            "price": [None, 12.5, None],
            "platform": ["ios", "ios", "web"],
        }
    )


def test_csv_with_header_and_mapping(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(CSV_TEXT)
    events = load_events({"path": str(path), "format": "csv", "columns": MAPPING}, now=NOW)
    assert_frame_equal(events, expected_events())


def test_gzipped_csv(tmp_path):
    path = tmp_path / "events.csv.gz"
    path.write_bytes(gzip.compress(CSV_TEXT.encode()))
    events = load_events({"path": str(path), "columns": MAPPING}, now=NOW)
    assert_frame_equal(events, expected_events())


def test_whitespace_file_without_header_gets_constant_event(tmp_path):
    path = tmp_path / "master.txt"
    path.write_text(" 00001 19970101  1   11.77\r\n 00002 19970112  5   77.00\r\n")
    spec = {
        "path": str(path),
        "format": "csv",
        "csv": {"sep": "whitespace", "header": False, "names": ["id", "date", "cds", "value"]},
        "columns": {"customer_id": "id", "timestamp": "date", "amount": "value"},
        "event_name": "purchase",
        "timestamp_format": "%Y%m%d",
    }
    events = load_events(spec, now=NOW)
    expected = pd.DataFrame(
        {
            "customer_id": pd.Series(["00001", "00002"], dtype="str"),
            "timestamp": pd.Series(pd.to_datetime(["1997-01-01", "1997-01-12"]), dtype="M8[us]"),
            "event": pd.Series(["purchase", "purchase"], dtype="str"),
            "amount": [11.77, 77.0],
            "cds": [1, 5],
        }
    )
    assert_frame_equal(events, expected)


def test_whitespace_file_header_is_replaced_by_names(tmp_path):
    path = tmp_path / "master.txt"
    header = " customer_id  date number_of_cds  dollar_value\r\n"
    path.write_text(header + " 00001 19970101  1   11.77\r\n")
    spec = {
        "path": str(path),
        "csv": {"sep": "whitespace", "header": True, "names": ["id", "day", "cds", "value"]},
        "columns": {"customer_id": "id", "timestamp": "day", "amount": "value"},
        "event_name": "purchase",
        "timestamp_format": "%Y%m%d",
    }
    events = load_events(spec, now=NOW)
    assert events.columns.tolist() == ["customer_id", "timestamp", "event", "amount", "cds"]
    assert events["customer_id"].tolist() == ["00001"]


def test_parquet(tmp_path):
    path = tmp_path / "events.parquet"
    user_frame().to_parquet(path)
    events = load_events({"path": str(path), "format": "parquet", "columns": MAPPING}, now=NOW)
    assert_frame_equal(events, expected_events())


def test_duckdb_table(tmp_path):
    database = tmp_path / "shop.duckdb"
    with duckdb.connect(str(database)) as con:
        con.register("clicks_frame", user_frame())
        con.sql("create table clicks as select * from clicks_frame")
    spec = {"format": "duckdb", "database": str(database), "table": "clicks", "columns": MAPPING}
    assert_frame_equal(load_events(spec, now=NOW), expected_events())
    with pytest.raises(ConfigError, match=r"no table 'clickz' .* tables: clicks"):
        load_events({**spec, "table": "clickz"}, now=NOW)


def test_sql_query_over_a_csv_file(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(CSV_TEXT)
    query = (
        f"select user, ts, action, price, platform from read_csv('{path}', "
        f"types={{'user': 'VARCHAR'}}) where action is not null"
    )
    events = load_events({"format": "sql", "query": query, "columns": MAPPING}, now=NOW)
    assert_frame_equal(events, expected_events())


def test_failing_sql_query_is_a_config_error():
    with pytest.raises(ConfigError, match=r"events.query failed in DuckDB"):
        load_events({"format": "sql", "query": "select * from no_such_table"}, now=NOW)


def test_query_with_no_rows_is_rejected(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(CSV_TEXT)
    query = f"select * from read_csv('{path}') where action = 'refund'"
    with pytest.raises(DataValidationError, match=r"events: the source query .* has no rows"):
        load_events({"format": "sql", "query": query, "columns": MAPPING}, now=NOW)


def test_mapped_column_missing_names_contract_user_and_available(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(CSV_TEXT)
    columns = {**MAPPING, "timestamp": "time"}
    with pytest.raises(DataValidationError) as err:
        load_events({"path": str(path), "columns": columns}, now=NOW)
    message = str(err.value)
    assert "required column 'timestamp' (mapped from 'time') is missing" in message
    assert "available columns: user, ts, action, price, platform" in message


def test_unmapped_contract_column_missing_says_how_to_map(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(CSV_TEXT)
    with pytest.raises(DataValidationError, match=r"'customer_id' \(not mapped; set columns"):
        load_events({"path": str(path)}, now=NOW)


def test_validation_failure_speaks_of_the_user_column(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(CSV_TEXT.replace("2024-01-03 08:00:00", "3rd of January"))
    with pytest.raises(DataValidationError, match=r"'ts' \(timestamp\) has 1 of 3 values"):
        load_events({"path": str(path), "columns": MAPPING}, now=NOW)


def test_config_mistakes_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="no file at"):
        load_events({"path": str(tmp_path / "absent.csv")}, now=NOW)
    with pytest.raises(ConfigError, match="supported formats: csv, parquet, duckdb, sql"):
        load_events({"path": "x", "format": "excel"}, now=NOW)
    path = tmp_path / "events.csv"
    path.write_text(CSV_TEXT)
    with pytest.raises(ConfigError, match=r"csv.names is required"):
        load_events({"path": str(path), "csv": {"header": False}}, now=NOW)
    with pytest.raises(ConfigError, match="unknown contract names"):
        load_events({"path": str(path), "columns": {"user_id": "user"}}, now=NOW)
    with pytest.raises(ConfigError, match=r"set either event_name or columns.event"):
        load_events({"path": str(path), "columns": MAPPING, "event_name": "purchase"}, now=NOW)


def test_customers_from_a_file_with_mapping(tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text("id,joined,plan\n007,2023-12-01,pro\n010,,free\n")
    spec = {"path": str(path), "columns": {"customer_id": "id", "signup_at": "joined"}}
    customers = load_customers(spec, now=NOW)
    expected = pd.DataFrame(
        {
            "customer_id": pd.Series(["007", "010"], dtype="str"),
            "signup_at": pd.Series([pd.Timestamp("2023-12-01"), pd.NaT], dtype="M8[us]"),
            "plan": pd.Categorical(["pro", "free"]),
        }
    )
    assert_frame_equal(customers, expected)


def test_customers_derived_from_first_event_values():
    events = expected_events().assign(
        timestamp=pd.to_datetime(["2024-01-05", "2024-01-02", "2024-01-03"]).astype("M8[us]"),
        platform=["web", None, "ios"],
        channel=["email", "ads", "seo"],
    )
    customers = load_customers({"from_events": ["platform", "channel"]}, events=events, now=NOW)
    expected = pd.DataFrame(
        {
            "customer_id": pd.Series(["007", "010"], dtype="str"),
            "platform": pd.Categorical(["web", "ios"]),
            "channel": pd.Categorical(["ads", "seo"], categories=["ads", "seo"]),
        }
    )
    assert_frame_equal(customers, expected)
    with pytest.raises(DataValidationError, match="column 'country' is not in the events"):
        load_customers({"from_events": ["country"]}, events=events, now=NOW)


def test_no_customers_block_means_none():
    assert load_customers(None) is None


def test_dataset_identity_and_span(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(CSV_TEXT)
    data_cfg = {
        "name": "tiny",
        "events": {"path": str(path), "columns": MAPPING},
        "customers": {"from_events": ["platform"]},
        "validation": {"future_tolerance": "1d"},
    }
    dataset = load_dataset(data_cfg, now=NOW)
    assert dataset.name == "tiny"
    assert_frame_equal(dataset.events.to_pyarrow().to_pandas(), expected_events())
    assert dataset.event_rows == len(expected_events())
    assert dataset.customers["platform"].tolist() == ["ios", "web"]
    assert dataset.data_start == pd.Timestamp("2024-01-01 10:00")
    assert dataset.data_end == pd.Timestamp("2024-01-03 08:00")
    assert dataset.fingerprint == load_dataset(data_cfg, now=NOW).fingerprint
    path.write_text(CSV_TEXT.replace("12.5", "12.6"))
    assert dataset.fingerprint != load_dataset(data_cfg, now=NOW).fingerprint


def test_missing_simulated_data_is_generated_first(tmp_path):
    out_dir = tmp_path / "sim"
    data_cfg = {
        "name": "sim",
        "events": {"path": str(out_dir / "events.parquet"), "format": "parquet"},
        "customers": {"path": str(out_dir / "customers.parquet"), "format": "parquet"},
        "simulate": {
            "out_dir": str(out_dir),
            "n_customers": 40,
            "seed": 3,
            "start": "2024-01-01",
            "end": "2024-03-31",
        },
    }
    dataset = load_dataset(data_cfg, now=pd.Timestamp("2024-04-01"))
    assert (out_dir / "events.parquet").exists()
    assert dataset.events["customer_id"].nunique().execute() <= 40
    assert dataset.data_end < pd.Timestamp("2024-04-01")


def test_sql_decimals_and_zoned_timestamps_become_canonical():
    query = (
        "select * from (values "
        "(1, timestamptz '2024-01-01 10:00:00+02', 'buy', 12.50::decimal(10, 2)), "
        "(2, timestamptz '2024-01-02 00:00:00+00', 'buy', null)"
        ") t(customer_id, timestamp, event, amount)"
    )
    events = load_events({"format": "sql", "query": query}, now=NOW)
    expected = pd.DataFrame(
        {
            "customer_id": pd.Series(["1", "2"], dtype="str"),
            "timestamp": pd.Series(
                pd.to_datetime(["2024-01-01 08:00", "2024-01-02 00:00"]), dtype="M8[us]"
            ),
            "event": pd.Series(["buy", "buy"], dtype="str"),
            "amount": [12.5, float("nan")],
        }
    )
    assert_frame_equal(events, expected)


def test_gzip_is_recognised_by_its_bytes_and_multi_member_streams_are_whole(tmp_path):
    path = tmp_path / "events.csv"
    half = CSV_TEXT.index("010,")
    path.write_bytes(
        gzip.compress(CSV_TEXT[:half].encode()) + gzip.compress(CSV_TEXT[half:].encode())
    )
    events = load_events({"path": str(path), "columns": MAPPING}, now=NOW)
    assert_frame_equal(events, expected_events())


def test_corrupt_or_mislabelled_gzip_is_refused(tmp_path):
    corrupt = bytearray(gzip.compress(CSV_TEXT.encode()))
    corrupt[-8] ^= 0xFF  # the CRC in the trailer
    path = tmp_path / "events.csv.gz"
    path.write_bytes(bytes(corrupt))
    with pytest.raises(DataValidationError, match=r"events.csv.gz is a corrupt gzip file \(CRC"):
        load_events({"path": str(path), "columns": MAPPING}, now=NOW)
    path.write_text(CSV_TEXT)
    with pytest.raises(DataValidationError, match=r"ends in .gz but is not gzip data"):
        load_events({"path": str(path), "columns": MAPPING}, now=NOW)


def test_latin1_whitespace_file_is_read_with_its_declared_encoding(tmp_path):
    path = tmp_path / "master.txt"
    path.write_bytes("id date city\n00001 19970101 Düsseldorf\n".encode("latin-1"))
    spec = {
        "path": str(path),
        "csv": {"sep": "whitespace"},
        "columns": {"customer_id": "id", "timestamp": "date"},
        "event_name": "purchase",
        "timestamp_format": "%Y%m%d",
    }
    with pytest.raises(DataValidationError, match=r"not utf-8 text: set events.encoding"):
        load_events(spec, now=NOW)
    assert load_events({**spec, "encoding": "latin-1"}, now=NOW)["city"].tolist() == ["Düsseldorf"]
    with pytest.raises(ConfigError, match=r"events.encoding 'ebcdic-42' is not supported"):
        load_events({**spec, "encoding": "ebcdic-42"}, now=NOW)


def test_bad_row_deep_in_a_csv_names_its_line(tmp_path):
    path = tmp_path / "events.csv"
    good = CSV_TEXT.splitlines()[1] + "\n"
    path.write_text(CSV_TEXT + good * 30_000 + "007,2024-01-02 11:30:00,view,1,ios,x,y\n")
    with pytest.raises(DataValidationError, match=r"CSV Error on Line: 30005 Expected Number"):
        load_events({"path": str(path), "columns": MAPPING}, now=NOW)


def test_sql_that_returns_no_table_is_a_config_error():
    with pytest.raises(ConfigError, match=r"events\.query returns no table"):
        load_events({"format": "sql", "query": "create table t (a int)"}, now=NOW)


SIM_PERIOD = {"start": "2024-01-01", "end": "2024-03-31"}


def simulation_config(out_dir) -> dict:
    return {
        "events": {"path": str(out_dir / "events.parquet"), "format": "parquet"},
        "customers": {"path": str(out_dir / "customers.parquet"), "format": "parquet"},
        "simulate": {"out_dir": str(out_dir), "n_customers": 40, "seed": 3, **SIM_PERIOD},
    }


def test_partial_simulation_is_reported_not_replaced(tmp_path):
    out_dir = tmp_path / "sim"
    out_dir.mkdir()
    (out_dir / "customers.parquet").write_bytes(b"mine")
    with pytest.raises(
        ConfigError, match=r"holds part of a simulation \(customers\) but no events"
    ):
        load_dataset(simulation_config(out_dir), now=pd.Timestamp("2024-04-01"))
    assert sorted(path.name for path in out_dir.iterdir()) == ["customers.parquet"]
    assert (out_dir / "customers.parquet").read_bytes() == b"mine"
